package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/recipients"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// scripted is a provider whose answers tests choose per token.
type scripted struct {
	mu      sync.Mutex
	sends   map[string]int     // message id -> times sent
	answers map[string][]error // token -> answers, in order; the last repeats
}

func (p *scripted) Send(_ context.Context, m *providers.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sends[m.ID]++
	a := p.answers[m.Receiver.UserID]
	if len(a) == 0 {
		return nil
	}
	err := a[0]
	if len(a) > 1 {
		p.answers[m.Receiver.UserID] = a[1:]
	}
	return err
}

func (p *scripted) Close() error { return nil }

func (p *scripted) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sends[id]
}

// clock is a test clock that can jump ahead.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Jump(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type rig struct {
	t        *testing.T
	db       *sqlstore.DB
	provider *scripted
	clock    *clock
	sender   *delivery.Sender
	queue    *delivery.Queue
	worker   *delivery.Worker
	bucket   *buckets.Bucket
	context  *contexts.Context
	redis    asynq.RedisConnOpt
	ns       string
	opts     delivery.Options
	// store is what the worker stores results in (default the database's).
	store messages.Store
	// batch, when set, is the provider the worker uses instead.
	batch providers.Provider
}

func newRig(t *testing.T, db *sqlstore.DB, opts delivery.Options) *rig {
	ctx := context.Background()
	keys, _ := pushgate.ParseMasterKeys(pushgate.NewMasterKey())
	kr, _ := pushgate.NewKeyring(keys...)
	creds, err := apps.NewService(db.Apps(), kr, apps.Options{}).Create(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	bsvc := buckets.NewService(db.Buckets(), kr, buckets.ServiceOptions{})
	b, err := bsvc.Create(ctx, creds.AppID, []byte(`{"providerCredentials":[{"type":"websocket","payload":{}}],"callbackConfig":{"type":"none"}}`))
	if err != nil {
		t.Fatal(err)
	}
	c := &contexts.Context{ID: pushgate.NewID(), AppID: b.AppID, BucketID: b.ID, Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "x"}, CreatedAt: time.Now().UTC()}
	if err := db.Buckets().CreateContext(ctx, c); err != nil {
		t.Fatal(err)
	}
	redisOpt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, db: db, provider: &scripted{sends: map[string]int{}, answers: map[string][]error{}}, clock: &clock{},
		bucket: b, context: c, redis: redisOpt, ns: testenv.Namespace(t)}
	opts.Now = r.clock.Now
	r.opts = opts
	r.queue = delivery.NewQueue(delivery.QueueOptions{Redis: redisOpt, Namespace: r.ns})
	t.Cleanup(func() { r.queue.Close() })
	r.sender = delivery.NewSender(db.Messages(), r.queue, opts)
	return r
}

func (r *rig) startWorker() {
	registry := providers.NewRegistry()
	var p providers.Provider = r.provider
	if r.batch != nil {
		p = r.batch
	}
	registry.Register(buckets.WebSocket, func(*buckets.Credential) (providers.Provider, error) { return p, nil }, nil)
	store := r.store
	if store == nil {
		store = r.db.Messages()
	}
	d := delivery.NewDeliverer(r.sender, store, r.db.Buckets(), bucketCredentials{r.bucket}, registry, r.opts)
	r.worker = delivery.NewWorker(delivery.WorkerOptions{Redis: r.redis, Namespace: r.ns, Concurrency: 4})
	r.worker.Handle(delivery.TypeSend, d)
	if err := r.worker.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { r.worker.Shutdown(context.Background()) })
}

// bucketCredentials serves the bucket's credentials (websocket ones carry
// no secrets) as a worker gets them.
type bucketCredentials struct{ b *buckets.Bucket }

func (c bucketCredentials) Credential(_ context.Context, _, _, id string) (*buckets.Credential, error) {
	if cr := c.b.Credential(id); cr != nil {
		return cr, nil
	}
	return nil, pushgate.NotFound("credential")
}

func (r *rig) receivers(tokens ...string) []recipients.Receiver {
	out := make([]recipients.Receiver, len(tokens))
	for i, tok := range tokens {
		out[i] = recipients.Receiver{CredentialID: r.bucket.Credentials[0].ID, ForeignID: "f-" + tok, UserID: tok}
	}
	return out
}

func (r *rig) send(tokens ...string) []string {
	r.t.Helper()
	res, err := r.sender.Send(context.Background(), r.bucket, r.context, r.receivers(tokens...))
	if err != nil {
		r.t.Fatal(err)
	}
	ids := make([]string, len(res))
	for i, x := range res {
		if x.MessageID == "" {
			r.t.Fatalf("receiver %d refused: %v", i, x.Errors)
		}
		ids[i] = x.MessageID
	}
	return ids
}

func (r *rig) get(id string) *messages.Message {
	m, err := r.db.Messages().Get(context.Background(), r.bucket.AppID, r.bucket.ID, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

// waitSentOnce waits until every message is final and checks that each
// was sent, and reached the provider once; it returns them.
func (r *rig) waitSentOnce(ids []string) []*messages.Message {
	r.t.Helper()
	got := r.waitFinal(ids, 30*time.Second)
	for i, m := range got {
		if m.Status != messages.Sent || r.provider.count(m.ID) != 1 {
			r.t.Errorf("message %d (%s, %s): %s, sent %d times", i, m.ID, m.ForeignID, m.Status, r.provider.count(m.ID))
		}
	}
	return got
}

// waitFinal waits until every message is final and returns them.
func (r *rig) waitFinal(ids []string, timeout time.Duration) []*messages.Message {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := make([]*messages.Message, len(ids))
		done := true
		for i, id := range ids {
			out[i] = r.get(id)
			done = done && out[i].Status.Final()
		}
		if done {
			return out
		}
		if time.Now().After(deadline) {
			for _, m := range out {
				if !m.Status.Final() {
					r.t.Fatalf("message %s still %s after %v (attempts %d, %s)", m.ID, m.Status, timeout, m.Attempts, m.LastError)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tokens(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func TestDeliversEveryMessageOnce(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		r := newRig(t, db, delivery.Options{ChunkSize: 64})
		r.startWorker()
		ids := append(r.send(tokens("a", 1000)...), r.send(tokens("b", 200)...)...)
		for _, m := range r.waitFinal(ids, 60*time.Second) {
			if m.Status != messages.Sent || m.Attempts != 1 || m.SentAt.IsZero() {
				t.Fatalf("message %+v", m)
			}
			if n := r.provider.count(m.ID); n != 1 {
				t.Fatalf("message %s sent %d times", m.ID, n)
			}
		}
	})
}

func TestSendRefusesBadReceiversOnly(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	r := newRig(t, db, delivery.Options{})
	recv := r.receivers("ok-1", "dup", "dup")
	recv = append(recv, recipients.Receiver{CredentialID: pushgate.NewID(), UserID: "x"}, recipients.Receiver{UserID: "x"})
	res, err := r.sender.Send(context.Background(), r.bucket, r.context, recv)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].MessageID == "" || res[1].MessageID == "" || len(res[0].Errors) != 0 {
		t.Fatalf("good receivers refused: %+v", res[:2])
	}
	for i, want := range map[int]string{2: "receivers[1]", 3: "no credential", 4: "credentialId: is required"} {
		if res[i].MessageID != "" || len(res[i].Errors) == 0 || !strings.Contains(res[i].Errors[0], want) {
			t.Errorf("receiver %d: %+v, want an error mentioning %q", i, res[i], want)
		}
	}
	if _, err := r.sender.Send(context.Background(), r.bucket, r.context, r.receivers(tokens("x", 1001)...)); pushgate.ErrorCode(err) != pushgate.ETOOLARGE {
		t.Fatalf("1001 receivers: %v", err)
	}
}

func TestOutcomes(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		r := newRig(t, db, delivery.Options{MaxAttempts: 3})
		transient := providers.Transient(providers.ReasonUnavailable, 503, 0, errors.New("try later"))
		r.provider.answers["flaky"] = []error{transient, transient, nil}
		r.provider.answers["gone"] = []error{providers.Permanent(providers.ReasonUnregistered, 410, errors.New("Unregistered"))}
		r.provider.answers["down"] = []error{transient}
		r.provider.answers["network"] = []error{errors.New("connection reset by peer"), nil}
		r.startWorker()
		ids := r.send("flaky", "gone", "down", "network", "fine")
		got := r.waitFinal(ids, 60*time.Second)
		want := []struct {
			status   messages.Status
			reason   string
			attempts int
		}{
			{messages.Sent, "unavailable", 3}, // the reason of the last failure stays for the record
			{messages.Failed, "unregistered", 1},
			{messages.Failed, "unavailable", 3},
			{messages.Sent, "unavailable", 2},
			{messages.Sent, "", 1},
		}
		for i, w := range want {
			m := got[i]
			if m.Status != w.status || m.Attempts != w.attempts || (w.status == messages.Failed && m.Reason != w.reason) {
				t.Errorf("%s: %s/%s after %d attempts; want %s/%s after %d", r.receivers(m.Receiver.UserID)[0].UserID, m.Status, m.Reason, m.Attempts, w.status, w.reason, w.attempts)
			}
			if n := r.provider.count(m.ID); n != w.attempts {
				t.Errorf("%s sent %d times, want %d", m.Receiver.UserID, n, w.attempts)
			}
		}
		if !strings.Contains(got[1].LastError, "410") {
			t.Errorf("last error of the unregistered message: %q", got[1].LastError)
		}
	})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	r := newRig(t, db, delivery.Options{})
	r.provider.answers["slow-down"] = []error{providers.Transient(providers.ReasonRateLimited, 429, 3*time.Second, errors.New("429")), nil}
	r.startWorker()
	ids := r.send("slow-down")
	var first *messages.Message
	deadline := time.Now().Add(20 * time.Second)
	for first == nil || first.Attempts == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no first attempt")
		}
		time.Sleep(10 * time.Millisecond)
		first = r.get(ids[0])
	}
	if first.Status == messages.Queued {
		if wait := first.EnqueuedAt.Sub(first.UpdatedAt); wait < 3*time.Second {
			t.Fatalf("retry due %v after the 429, want at least the 3 s Retry-After", wait)
		}
	}
	m := r.waitFinal(ids, 30*time.Second)[0]
	if m.Status != messages.Sent || m.Attempts != 2 {
		t.Fatalf("after the 429: %s, %d attempts", m.Status, m.Attempts)
	}
}

func TestExpiredMessagesAreNotSent(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	r := newRig(t, db, delivery.Options{})
	ttl := 60.0
	r.context = &contexts.Context{ID: pushgate.NewID(), AppID: r.bucket.AppID, BucketID: r.bucket.ID, Kind: contexts.KindSilent,
		Silent: &contexts.Silent{TTL: &ttl}, CreatedAt: time.Now().UTC()}
	if err := db.Buckets().CreateContext(context.Background(), r.context); err != nil {
		t.Fatal(err)
	}
	ids := r.send("late")
	r.clock.Jump(2 * time.Minute) // the worker comes up after the ttl
	r.startWorker()
	m := r.waitFinal(ids, 30*time.Second)[0]
	if m.Status != messages.Expired || m.Reason != "expired" || r.provider.count(m.ID) != 0 {
		t.Fatalf("expired message: %s/%s, sent %d times", m.Status, m.Reason, r.provider.count(m.ID))
	}
}

// Redis loses every task: the sweep finds the queued messages in the
// database and they go out.
func TestSweepRecoversLostTasks(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		r := newRig(t, db, delivery.Options{ChunkSize: 10})
		ids := r.send(tokens("lost", 50)...)
		insp := asynq.NewInspector(r.redis)
		defer insp.Close()
		if n, err := insp.DeleteAllPendingTasks(r.queue.Name(delivery.QueueDefault)); err != nil || n != 5 {
			t.Fatalf("deleted %d pending tasks (%v), want 5", n, err)
		}
		r.startWorker()
		if n, err := r.sender.Sweep(context.Background()); err != nil || n != 0 {
			t.Fatalf("sweep before the messages are stale enqueued %d (%v)", n, err)
		}
		r.clock.Jump(2 * time.Minute)
		if n, err := r.sender.Sweep(context.Background()); err != nil || n != 50 {
			t.Fatalf("sweep enqueued %d (%v), want 50", n, err)
		}
		r.waitSentOnce(ids)
	})
}

// A worker dies holding a chunk: once its lease ends the sweep hands the
// messages to another worker, counting the unknown attempt.
func TestSweepRecoversAbandonedClaims(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		r := newRig(t, db, delivery.Options{Lease: time.Minute})
		ids := r.send(tokens("claimed", 20)...)
		insp := asynq.NewInspector(r.redis)
		defer insp.Close()
		insp.DeleteAllPendingTasks(r.queue.Name(delivery.QueueDefault))
		now := r.clock.Now()
		claimed, err := db.Messages().Claim(context.Background(), ids, now, now.Add(time.Minute)) // the worker that dies
		if err != nil || len(claimed) != 20 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		r.startWorker()
		r.clock.Jump(30 * time.Second)
		if n, _ := r.sender.Sweep(context.Background()); n != 0 {
			t.Fatalf("sweep took %d messages from a live lease", n)
		}
		r.clock.Jump(2 * time.Minute)
		if n, err := r.sender.Sweep(context.Background()); err != nil || n != 20 {
			t.Fatalf("sweep enqueued %d (%v), want 20", n, err)
		}
		for _, m := range r.waitFinal(ids, 30*time.Second) {
			if m.Status != messages.Sent || m.Attempts != 2 {
				t.Fatalf("message %s: %s after %d attempts, want sent after 2", m.ID, m.Status, m.Attempts)
			}
		}
	})
}

// Two nodes can make the same IDGroup in the same millisecond: a send
// whose group (or an id) is taken makes new ids and is stored all the same.
// Before it makes them it moves its groups away from the taken one (whose
// node counts on from it), so that the retry does not meet that node again.
func TestSendMakesNewIDsWhenTheyAreTaken(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		var taken []string
		var made []string // "group" or "skip", in order
		calls := 0
		r := newRig(t, db, delivery.Options{
			NewIDGroup: func(n int) []string {
				calls++
				made = append(made, "group")
				if calls == 2 { // the second send's first try meets the first send's ids
					return taken[:n]
				}
				return pushgate.NewIDGroup(n)
			},
			SkipIDGroups: func() {
				made = append(made, "skip")
				pushgate.SkipIDGroups()
			},
		})
		taken = r.send("a", "b", "c")
		again := r.send("d", "e")
		if calls != 3 {
			t.Fatalf("%d groups made, want 3 (one taken)", calls)
		}
		if fmt.Sprint(made) != "[group group skip group]" {
			t.Fatalf("groups made and skipped: %v, want the retry's group after a skip", made)
		}
		ids := append(append([]string{}, taken...), again...)
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("id %s given twice", id)
			}
			seen[id] = true
		}
		r.startWorker()
		r.waitSentOnce(ids)
	})
}
