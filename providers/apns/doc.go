// Package apns sends notifications to iOS, macOS and Safari through Apple's
// APNS HTTP/2 API with sideshow/apns2: it renders a context into the payload
// and headers docs/payloads.md promises, authenticates with a provider token
// or a client certificate, and classifies Apple's answer into a
// providers.Outcome.
//
// One Provider holds one HTTP/2 client per credential and keeps its
// connections open between sends, because Apple treats repeated connecting
// as abuse. The package never retries (delivery does) and never decides what
// to do with a dead token beyond reporting it.
package apns
