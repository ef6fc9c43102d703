// Package smstest provides a fake HTTP SMS gateway for tests: a loopback
// httptest server that records every request it receives, with its body
// decoded, and answers with replies the test scripts.
//
// A test starts a Gateway with New, which closes it when the test ends,
// points the code under test at Endpoint, and then asserts what the gateway
// received:
//
//	func TestSendsOTP(t *testing.T) {
//		gw := smstest.New(t)
//		cfg.RequestConfig.URL = gw.Endpoint("/2010-04-01/Accounts/AC123/Messages.json")
//		courier, err := smscourier.New(cfg)
//		require.NoError(t, err)
//
//		require.NoError(t, courier.Send(ctx, "+14134242223", "Your code is 123456"))
//
//		req := gw.RequireRequest(t, 0)
//		assert.Equal(t, "+14134242223", req.FormValue("To"))
//	}
//
// Each recorded Request holds the method, path, query, headers and raw body,
// and the body decoded by its Content-Type: Form for
// application/x-www-form-urlencoded, JSON for application/json and *+json.
//
// Without a script every request is answered 201 Created with a small JSON
// body holding a message id. Script sets a sequence of replies (status,
// headers, body, Retry-After, a delay, a TCP reset or a close without a
// reply); Respond computes each reply from the request.
//
// Delivery receipts: a ReceiptPoster (NewReceiptPoster) posts a provider's
// delivery receipts (DLRs) to a receipt endpoint the way that provider
// does, in its shape and vocabulary, signed as it signs them (Twilio's
// X-Twilio-Signature, Vonage's sig parameter or JWT, Plivo's V3 signature,
// Telnyx's Ed25519 signature, the webhook preset's Smscourier-Signature,
// and those of the other presets); ReceiptProviders lists them. Its Reply
// is the provider's success reply to a send, from which the provider's
// preset reads the message id. PostReceipts puts both together: the
// gateway answers each send as the provider, with message id "msg-N",
// and then posts that message's receipts back by a ReceiptPlan (statuses,
// error code, delay, duplicated, out of order):
//
//	func TestReceipts(t *testing.T) {
//		poster, err := smstest.NewReceiptPoster("twilio", receiptURL,
//			smstest.ReceiptCredentials{Secret: authToken})
//		require.NoError(t, err)
//		gw := smstest.New(t)
//		gw.PostReceipts(poster, smstest.ReceiptPlan{Duplicate: true, OutOfOrder: true})
//		// ... send through gw ...
//		require.NoError(t, gw.WaitReceiptPosts(ctx, 4))
//		for _, p := range gw.ReceiptPosts() { ... p.DLR, p.StatusCode, p.Err ... }
//	}
//
// Close waits for the posts under way and skips those still waiting out
// the plan's Delay.
//
// A Gateway is safe for concurrent use by multiple goroutines: the code under
// test may send from many goroutines while the test reads the records.
//
// The package uses only the standard library and does not import smscourier,
// so it can stand in for any HTTP SMS gateway, and smscourier's own tests can
// use it without an import cycle.
package smstest
