// Package hms is the provider adapter for Huawei Push Kit (the v1 message
// API, POST {pushUrl}/{appId}/messages:send): it renders a context into a
// Push Kit message as docs/payloads.md specifies, gets an app-level access
// token from the credential's authUrl (OAuth 2.0 client credentials),
// sends, and classifies Push Kit's result codes into providers.Outcome.
//
// One request carries up to 1000 tokens when their rendered messages are
// the same (Push Kit sends one message body to every token of a request);
// messages that carry their own ids are sent one token a request.
//
// It never retries on its own except once, with a fresh access token, when
// Push Kit says the token it was given expired; never follows a redirect;
// and connects to pushUrl and authUrl, which are tenant input, only through
// a pushgate.SSRFGuard.
package hms
