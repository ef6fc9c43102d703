package receipt

import "time"

// Delivery is the end of one message's delivery, as a message lifecycle
// (package queue's) reports it when a receipt makes the message's status
// final: what metrics of delivery rate and send-to-delivered latency need,
// and nothing that identifies the recipient.
type Delivery struct {
	// Gateway names the gateway that accepted the message (a Router's
	// gateway name, or a Courier's host).
	Gateway string
	// CallingCode is the recipient's country calling code, "+44"
	// (smscourier.CallingCode); "" when unknown.
	CallingCode string
	// Status is the final status: delivered, undelivered or failed.
	Status Status
	// Latency is the time from the gateway's acceptance of the message to
	// the final receipt's Time; 0 when either is unknown or the receipt's
	// time is the earlier.
	Latency time.Duration
}
