package pushgate

// Platform is where a notification is delivered.
type Platform string

const (
	PlatformIOS       Platform = "ios"       // APNS
	PlatformAndroid   Platform = "android"   // FCM
	PlatformWeb       Platform = "web"       // Web Push
	PlatformWebSocket Platform = "websocket" // pushgate's own realtime provider
)

// Valid reports whether p is a known platform.
func (p Platform) Valid() bool {
	switch p {
	case PlatformIOS, PlatformAndroid, PlatformWeb, PlatformWebSocket:
		return true
	}
	return false
}
