// Package apns sends notifications to iOS, macOS and Safari through Apple's
// APNS HTTP/2 API: it renders a context into the payload and headers
// docs/payloads.md promises, authenticates with a provider token or a
// client certificate, and classifies Apple's answer into a
// providers.Outcome.
//
// One Provider holds one pool of HTTP/2 connections per credential and
// keeps them open between sends, because Apple treats repeated connecting
// as abuse. The package never retries a send Apple processed (delivery
// does); a request Apple never saw (a refused stream, or one above a
// GOAWAY's last stream) goes out once more on another connection. It never
// decides what to do with a dead token beyond reporting it.
//
// The HTTP/2 connection (h2conn.go, h2read.go) is written on
// golang.org/x/net/http2's framer and HPACK coder rather than net/http's
// client, which sideshow/apns2 uses: that client starts a goroutine per
// request, indexes every device token's :path in both ends' header tables
// and writes each request with its own system call. Measured with
// bench/sendload (docs/performance.md), the node's CPU per push fell from
// 84–95 µs to about 43 µs, and the fake APNS server's own CPU per push fell
// too. The connection batches every frame that gathered while the last
// write was in progress into one write, keeps HTTP/2's flow control both
// ways, Apple's stream limit, pings a silent connection and closes it when
// the ping goes unanswered. sideshow/apns2 still signs the provider tokens
// and names Apple's reasons.
package apns
