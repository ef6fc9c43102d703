package smstest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests pin down, without a network race, the paths that the loopback
// tests reach only when the server notices a departed client first.

func TestDelayEndsWithTheRequestContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest(http.MethodPost, "/send", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	start := time.Now()
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		Reply{Delay: time.Hour}.write(w, r, make(chan struct{}))
	})
	assert.Less(t, time.Since(start), time.Minute)
	assert.False(t, w.Flushed)
	assert.Empty(t, w.Body.String(), "no reply")
}

func TestDelayEndsWhenClosing(t *testing.T) {
	closing := make(chan struct{})
	close(closing)
	r := httptest.NewRequest(http.MethodPost, "/send", nil)
	w := httptest.NewRecorder()
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		Reply{Delay: time.Hour}.write(w, r, closing)
	})
	assert.Empty(t, w.Body.String(), "no reply")
}

func TestIncompleteBodyIsNotRecorded(t *testing.T) {
	g := New(t)
	r := httptest.NewRequest(http.MethodPost, "/send", iotest.ErrReader(iotest.ErrTimeout))
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		g.serve(httptest.NewRecorder(), r)
	})
	assert.Zero(t, g.Count())

	w := httptest.NewRecorder()
	g.serve(w, httptest.NewRequest(http.MethodPost, "/send", strings.NewReader("ok")))
	require.Equal(t, 1, g.Count())
	assert.Equal(t, http.StatusCreated, w.Code)
	assert.Equal(t, `{"id":"msg-1","status":"queued"}`, w.Body.String(), "the failed request did not count")
}
