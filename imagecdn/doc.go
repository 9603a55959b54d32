// Package imagecdn turns the image URLs of notifications into images pushgate
// serves itself: it fetches a source once, decodes it, resizes it into the
// variants each platform wants (see DefaultVariants), stores them under
// content-addressed keys and serves them at /cdn/{key} with immutable cache
// headers. Notifications then never point at a slow, huge or vanished image,
// and the push services fetch from us, not from the sender's server.
//
// The pieces can be used alone: Fetcher (a guarded HTTP GET with conditional
// re-fetch), Decode (header-checked decoding), Store and DirStore (storage),
// Handler (serving). Processor ties them together and is what the rest of
// pushgate calls: Process for a URL, Upload for a body.
//
// What this package must never do:
//   - reach an internal address: every connection, including each redirect
//     hop, goes through the root SSRFGuard, and no proxy from the
//     environment is used;
//   - read an unbounded body or decode an image before its header has shown
//     it fits the pixel limit (the WebP frame inside the container is checked
//     too, as the container's canvas size alone does not bound the decoder);
//   - serve or keep anything but re-encoded pixels: sources are never stored
//     or served, so EXIF (camera, GPS) and other metadata never leave the
//     process (the EXIF orientation is applied to the pixels first);
//   - change what a key names: keys are hashes of the source bytes and the
//     variant's full specification, so a cached /cdn/ answer is valid
//     forever, and changing a variant's size yields new keys;
//   - resize more images at once than Options.Concurrency allows, since a
//     decoded image is the largest allocation in pushgate.
//
// Errors are *pushgate.Error values whose code says what the caller should
// do: EINVALID for a URL that is not an absolute http(s) URL, EFORBIDDEN for
// an internal address, ETOOLARGE for too many bytes or pixels,
// EUNPROCESSABLE for answers that will not get better (4xx, not an image,
// unsupported format, corrupt data, too many redirects), and EUNAVAILABLE
// for ones worth retrying later (timeouts, connection failures, 5xx, 429).
//
// Wiring (server, httpapi, delivery) lives elsewhere; this package imports
// only the root package, the standard library, disintegration/imaging and
// golang.org/x/image/webp.
package imagecdn
