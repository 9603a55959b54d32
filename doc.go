// Package pushgate holds the vocabulary shared by every part of the push
// gateway: identifiers, platforms, the error type with its codes, sealing of
// secrets at rest, the SSRF guard every tenant-steered connection passes,
// the redaction of URLs that may carry secrets, and the embedded OpenAPI
// description.
//
// It imports only the standard library so that every other package may
// import it. DESIGN.md places the embeddable Server here too; Go forbids the
// import cycle that would need (the server imports httpapi, which imports
// this package), so the embeddable server lives in package server instead.
package pushgate
