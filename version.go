package pushgate

// Version is the release of this build; release builds set it with
// -ldflags "-X github.com/pushgate/pushgate.Version=v1.2.3".
var Version = "v0.1.0-dev"

// Name is the product name reported by the status endpoints.
const Name = "pushgate"
