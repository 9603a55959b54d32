package imagejobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/imagejobs"
)

// fakeContexts records what StaleProcessing was asked and finds nothing.
type fakeContexts struct {
	contexts.Store
	before time.Time
}

func (f *fakeContexts) StaleProcessing(_ context.Context, before time.Time, _ int) ([]*contexts.Context, error) {
	f.before = before
	return nil, nil
}

type fakeSources struct{ before time.Time }

func (f *fakeSources) Forget(_ context.Context, before time.Time) (int, error) {
	f.before = before
	return 0, nil
}

// TestJobsReadTheInjectedClock: the maintenance jobs measure their ages
// from Options.Now, not from the machine's clock.
func TestJobsReadTheInjectedClock(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ctxs, sources := &fakeContexts{}, &fakeSources{}
	s := imagejobs.New(imagejobs.Options{Contexts: ctxs, Sources: sources, Now: func() time.Time { return now }})
	if err := s.Recovery(time.Minute).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-time.Minute); !ctxs.before.Equal(want) {
		t.Errorf("recovery looked for contexts created before %v, want %v", ctxs.before, want)
	}
	if err := s.SourceExpiry().Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-30 * 24 * time.Hour); !sources.before.Equal(want) {
		t.Errorf("source expiry forgot sources checked before %v, want %v", sources.before, want)
	}
}
