package guard

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGCRA checks the MemoryStore's arithmetic on sequences of takes of
// one cell: when each is allowed, and the wait of each refusal.
func TestGCRA(t *testing.T) {
	type try struct {
		at       time.Duration
		cost     int
		wantWait time.Duration // 0: allowed
	}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		burst    int
		tries    []try
	}{
		{name: "5 per hour", interval: 12 * time.Minute, burst: 5, tries: []try{
			{0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0},
			{0, 1, 12 * time.Minute},
			{11 * time.Minute, 1, time.Minute},
			{12 * time.Minute, 1, 0},
			{12 * time.Minute, 1, 12 * time.Minute},
			{2 * time.Hour, 5, 0},
			{2 * time.Hour, 1, 12 * time.Minute},
		}},
		{name: "cooldown", interval: 30 * time.Second, burst: 1, tries: []try{
			{0, 1, 0}, {time.Second, 1, 29 * time.Second}, {29 * time.Second, 1, time.Second}, {30 * time.Second, 1, 0},
		}},
		{name: "spaced sends never wait", interval: time.Minute, burst: 2, tries: []try{
			{0, 1, 0}, {time.Minute, 1, 0}, {2 * time.Minute, 1, 0}, {3 * time.Minute, 1, 0}, {3 * time.Minute, 1, 0},
			{3 * time.Minute, 1, time.Minute},
		}},
		{name: "costs", interval: time.Minute, burst: 10, tries: []try{
			{0, 4, 0}, {0, 4, 0}, {0, 4, 2 * time.Minute}, {0, 2, 0}, {30 * time.Second, 1, 30 * time.Second},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewMemoryStore()
			base := time.Unix(1_700_000_000, 0)
			for i, tr := range tc.tries {
				d, err := s.Take(context.Background(), base.Add(tr.at), Request{Takes: []Take{{Key: "k", Interval: tc.interval, Burst: tc.burst, Cost: tr.cost}}})
				require.NoError(t, err)
				want := Decision{Allowed: true, Refused: -1}
				if tr.wantWait > 0 {
					want = Decision{Refused: 0, RetryAfter: tr.wantWait}
				}
				assert.Equal(t, want, d, "try %d", i)
			}
		})
	}
}

// TestMemoryStoreBadTake checks that a take out of range is an error.
func TestMemoryStoreBadTake(t *testing.T) {
	for _, tk := range []Take{
		{Key: "k", Interval: 0, Burst: 1, Cost: 1},
		{Key: "k", Interval: time.Second, Burst: 0, Cost: 1},
		{Key: "k", Interval: time.Second, Burst: 1, Cost: 0},
	} {
		_, err := NewMemoryStore().Take(context.Background(), time.Now(), Request{Takes: []Take{tk}})
		assert.ErrorIs(t, err, errBadTake, "%+v", tk)
	}
}

// TestMemoryStoreSameKeyTwice checks that two takes of one cell in a
// Request add up.
func TestMemoryStoreSameKeyTwice(t *testing.T) {
	s := NewMemoryStore()
	now := time.Now()
	tk := Take{Key: "k", Interval: time.Minute, Burst: 3, Cost: 1}
	d, err := s.Take(context.Background(), now, Request{Takes: []Take{tk, tk}})
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	d, err = s.Take(context.Background(), now, Request{Takes: []Take{tk, tk}})
	require.NoError(t, err)
	assert.Equal(t, Decision{Refused: 1, RetryAfter: time.Minute}, d)
	d, err = s.Take(context.Background(), now, Request{Takes: []Take{tk}})
	require.NoError(t, err)
	assert.True(t, d.Allowed, "the refused request counted its first take")
}

// TestMemoryStoreSweeps checks that cells back to fresh and admissions
// past their Remember are forgotten: by time, and when a shard doubles.
func TestMemoryStoreSweeps(t *testing.T) {
	ctx := context.Background()
	base := time.Unix(1_700_000_000, 0)
	s := NewMemoryStore()
	take := func(now time.Time, key string, interval, remember time.Duration) {
		t.Helper()
		_, err := s.Take(ctx, now, Request{Message: "m-" + key, Remember: remember, Takes: []Take{{Key: key, Interval: interval, Burst: 1, Cost: 1}}})
		require.NoError(t, err)
	}
	for i := range 1000 {
		take(base, fmt.Sprintf("short-%d", i), time.Second, time.Hour)
		take(base, fmt.Sprintf("long-%d", i), 2*time.Hour, time.Hour)
	}
	cells, admissions := s.size()
	assert.Equal(t, 2000, cells)
	assert.Equal(t, 2000, admissions)

	// A minute on, takes sweep the shards, each Take the next one in
	// turn: the short cells go.
	for i := range 1000 {
		take(base.Add(time.Minute), fmt.Sprintf("later-%d", i), time.Second, time.Hour)
	}
	cells, admissions = s.size()
	assert.Equal(t, 1000+1000, cells)
	assert.Equal(t, 2000+1000, admissions)

	// Past the Remember, the admissions go; past 2h the long cells.
	for i := range 1000 {
		take(base.Add(3*time.Hour), fmt.Sprintf("latest-%d", i), time.Second, time.Hour)
	}
	cells, admissions = s.size()
	assert.Equal(t, 1000, cells)
	assert.Equal(t, 1000, admissions)

	// Within the minute, growth alone sweeps: a flood of one-off numbers
	// keeps the store at a bounded size, here about 1,000 live entries
	// (admissions of a second at one take a millisecond).
	s = NewMemoryStore()
	maxSize := 0
	for i := range 200_000 {
		take(base.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("flood-%d", i), time.Millisecond, time.Second)
		if i%1000 == 0 {
			cells, admissions = s.size()
			maxSize = max(maxSize, cells+admissions)
		}
	}
	assert.LessOrEqual(t, maxSize, 4*1000+memShards*minTable)
}

// TestMemoryStoreSpareBounded checks that the slots a rebuild leaves for
// the next to reuse are never more than twice the tables' size: after a
// burst, the store gives the burst's memory back.
func TestMemoryStoreSpareBounded(t *testing.T) {
	ctx := context.Background()
	base := time.Unix(1_700_000_000, 0)
	s := NewMemoryStore()
	for i := range 100_000 {
		_, err := s.Take(ctx, base, Request{Message: fmt.Sprint("burst-", i), Remember: time.Second, Takes: []Take{{Key: fmt.Sprint("k-", i), Interval: time.Second, Burst: 1, Cost: 1}}})
		require.NoError(t, err)
	}
	burst := cap(s.spareAdmitted)
	for i := range 2 * memShards { // each Take sweeps the next shard
		_, err := s.Take(ctx, base.Add(2*time.Minute), Request{Message: fmt.Sprint("after-", i), Remember: time.Second, Takes: []Take{{Key: "k", Interval: time.Second, Burst: 1_000, Cost: 1}}})
		require.NoError(t, err)
	}
	largest := 0
	for i := range s.shards {
		largest = max(largest, len(s.shards[i].admitted.slots), len(s.shards[i].cells.slots))
	}
	assert.Greater(t, burst, 4*minTable, "the burst grew the tables")
	assert.LessOrEqual(t, cap(s.spareAdmitted), 2*largest)
	assert.LessOrEqual(t, cap(s.spareCells), 2*largest)
}
