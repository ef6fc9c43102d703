package smscourier

import "testing"

func TestCallingCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"+447400123456", "+44"},
		{"+14134242223", "+1"},
		{"+79161234567", "+7"},
		{"+33612345678", "+33"},
		{"+35312345678", "+353"},
		{"+8801712345678", "+880"},
		{"+2348031234567", "+234"},
		{"+1", "+1"},
		{"+2891234567", ""}, // 28 and 289 are unassigned
		{"+0441234", ""},
		{"447400123456", ""},
		{"+44 7400 123456", ""},
		{"", ""},
	} {
		if got := CallingCode(tc.in); got != tc.want {
			t.Errorf("CallingCode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
