package apns

import (
	"fmt"
	"strings"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
)

// worstIdentity is the largest identity a message can carry: UUIDs and the
// longest foreignId receivers may have.
var worstIdentity = identity{
	messageID: strings.Repeat("0", 36),
	contextID: strings.Repeat("0", 36),
	foreignID: strings.Repeat("f", 255),
}

// Check refuses a context that could render to a body APNS would refuse,
// whatever message and receiver it is sent with. It is a providers.Checker.
func Check(c *contexts.Context) error {
	type target struct {
		field  string
		safari bool
	}
	targets := []target{{field: "context"}}
	if c.Kind == contexts.KindRaw && c.Raw != nil {
		// The credential decides which section is sent; both must fit.
		targets = targets[:0]
		if len(c.Raw.IOS) > 0 || len(c.Raw.Safari) == 0 {
			targets = append(targets, target{field: "ios"})
		}
		if len(c.Raw.Safari) > 0 {
			targets = append(targets, target{field: "safari", safari: true})
		}
	}
	for _, t := range targets {
		r, err := render(c, worstIdentity, t.safari)
		if err != nil {
			return pushgate.Invalid("the context cannot be sent through APNS", err.Error())
		}
		if len(r.body) > MaxPayload {
			return pushgate.Invalid("the context is too large for APNS",
				fmt.Sprintf("%s: renders to %d bytes with the message's ids and a 255-character foreignId; APNS accepts at most %d", t.field, len(r.body), MaxPayload))
		}
	}
	return nil
}
