package queue

import (
	"crypto/rand"
	"encoding/hex"
)

// maskNumber hides all but the last digits of a recipient: at most 4 shown,
// and never more than a third of it. It matches the courier's own logs.
func maskNumber(s string) string {
	r := []rune(s)
	show := min(4, len(r)/3)
	for i := range len(r) - show {
		r[i] = '*'
	}
	return string(r)
}

// newIdempotencyKey returns a random 128-bit key in UUID version 4 form, as
// the courier makes for a message without one.
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:36], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}
