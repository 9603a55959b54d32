package contexts

import "github.com/pushgate/pushgate"

// Status is where a context is with its images.
type Status string

const (
	// Ready contexts can be sent: they have no images, or all of them have
	// their variants on the CDN.
	Ready Status = "ready"
	// Processing contexts have images being fetched and resized; their
	// messages wait.
	Processing Status = "processing"
	// Failed contexts have an image that could not be fetched or decoded
	// (Context.Failure says which and why); they cannot be sent.
	Failed Status = "failed"
)

// Image variants a renderer may ask for (imagecdn's DefaultVariants).
const (
	VariantIcon  = "icon"  // square, for notification and action icons
	VariantBadge = "badge" // small monochrome-friendly square (Web Push badge)
	VariantLarge = "large" // 2:1 large image (Android, Web Push)
	VariantIOS   = "ios"   // an attachment within Apple's limits
)

// ImageSources lists the image URLs of the context that pushgate serves
// from its CDN, each once, in a stable order. Raw APNS and FCM payloads are
// sent as given and are not among them.
func (c *Context) ImageSources() []string {
	var out []string
	seen := map[string]bool{}
	add := func(urls ...string) {
		for _, u := range urls {
			if u != "" && !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	switch {
	case c.Data != nil:
		add(c.Data.Icon, c.Data.Image)
		for _, a := range c.Data.Actions {
			add(a.Icon)
		}
	case c.Raw != nil:
		if cm := c.Raw.Common; cm != nil {
			add(cm.IconURL, cm.ImageURL)
		}
		for _, w := range []*RawWebPush{c.Raw.Chromium, c.Raw.Edge, c.Raw.Firefox, c.Raw.SafariVapid} {
			if w == nil {
				continue
			}
			add(w.Icon, w.Image, w.Badge)
			for _, a := range w.Actions {
				add(a.Icon)
			}
		}
	}
	return out
}

// CDN returns the URL of variant of the image at source as pushgate serves
// it, or source itself when it has none (no image service, or "").
func (c *Context) CDN(source, variant string) string {
	if source == "" || c.Images == nil {
		return source
	}
	if u := c.Images[source][variant]; u != "" {
		return u
	}
	return source
}

// ForPlatform returns the context with its image URLs replaced by the CDN
// variants that platform's notifications show: on iOS the attachment, on
// Android and the web the 2:1 large image, icons as square icons and Web
// Push badges as badges. Without CDN images it returns c itself; otherwise
// a copy (c is shared and never changed).
func (c *Context) ForPlatform(p pushgate.Platform) *Context {
	if len(c.Images) == 0 {
		return c
	}
	large := VariantLarge
	if p == pushgate.PlatformIOS {
		large = VariantIOS
	}
	out := *c
	switch {
	case c.Data != nil:
		d := *c.Data
		d.Icon, d.Image = c.CDN(d.Icon, VariantIcon), c.CDN(d.Image, large)
		d.Actions = append([]Action(nil), d.Actions...)
		for i := range d.Actions {
			d.Actions[i].Icon = c.CDN(d.Actions[i].Icon, VariantIcon)
		}
		out.Data = &d
	case c.Raw != nil:
		r := *c.Raw
		if r.Common != nil {
			cm := *r.Common
			cm.IconURL, cm.ImageURL = c.CDN(cm.IconURL, VariantIcon), c.CDN(cm.ImageURL, large)
			r.Common = &cm
		}
		for _, w := range []**RawWebPush{&r.Chromium, &r.Edge, &r.Firefox, &r.SafariVapid} {
			if *w == nil {
				continue
			}
			x := **w
			x.Icon, x.Image, x.Badge = c.CDN(x.Icon, VariantIcon), c.CDN(x.Image, large), c.CDN(x.Badge, VariantBadge)
			x.Actions = append([]WebAction(nil), x.Actions...)
			for i := range x.Actions {
				x.Actions[i].Icon = c.CDN(x.Actions[i].Icon, VariantIcon)
			}
			*w = &x
		}
		out.Raw = &r
	}
	return &out
}
