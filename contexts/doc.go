// Package contexts holds CORE's message contexts: what a notification says,
// created once and sent to many receivers. A context is data (one neutral
// notification rendered for every platform), raw (per-platform payloads, with
// common defaults) or silent (data only, no alert).
//
// The types follow CORE's DTOs field for field, so CORE clients' JSON decodes
// unchanged. Parse validates every field and names each problem by its JSON
// path, refusing text storage cannot hold (invalid UTF-8) and image URLs
// whose host is a literal internal address (through the node's SSRF guard,
// without resolving names). Rendering to vendor payloads lives in the
// provider adapters, and fetching images in imagecdn; this package only
// says what the notification is.
package contexts
