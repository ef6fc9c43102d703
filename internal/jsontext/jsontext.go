// Package jsontext renders JSON scalars as text, for the gateway replies
// the courier reads and the receipts package receipt parses.
package jsontext

import "encoding/json"

// Scalar renders a JSON string or number as text (a number as written,
// so that large ids stay exact); anything else, and null, as "".
func Scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
