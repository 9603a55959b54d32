package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushgate/pushgate/bench/internal/latency"
)

// eventConsumer is a callback URL that counts the events in the batches it
// receives, and the sent or failed events of each message.
type eventConsumer struct {
	sent, failed, delivered, batches atomic.Int64

	mu     sync.Mutex
	final  map[string]int // message id → its sent and failed events
	lastAt time.Time
}

func newEventConsumer() *eventConsumer { return &eventConsumer{final: map[string]int{}} }

func (c *eventConsumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var batch struct {
		Messages []struct {
			MessageID string
			Result    struct{ Kind string }
		}
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, m := range batch.Messages {
		switch m.Result.Kind {
		case "sent":
			c.sent.Add(1)
			c.final[m.MessageID]++
		case "failed":
			c.failed.Add(1)
			c.final[m.MessageID]++
		case "delivered":
			c.delivered.Add(1)
		}
	}
	c.lastAt = time.Now()
	c.mu.Unlock()
	c.batches.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// wait waits until every message of ids has had a sent or failed event, or
// until none came for patience, and reports what arrived: each message
// must have exactly one.
func (c *eventConsumer) wait(t *tb, ids []string, lastDelivery time.Time, patience time.Duration) {
	total := int64(len(ids))
	seen, progress := int64(-1), time.Now()
	for {
		got := c.sent.Load() + c.failed.Load()
		if got >= total && time.Since(progress) > 200*time.Millisecond {
			break // and no more for a moment: duplicates would show
		}
		if got != seen {
			seen, progress = got, time.Now()
		} else if time.Since(progress) > patience {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing, twice int
	for _, id := range ids {
		switch n := c.final[id]; {
		case n == 0:
			missing++
		case n > 1:
			twice++
		}
	}
	stranger := len(c.final) - (len(ids) - missing)
	fmt.Printf("callback:  %d sent + %d failed events in %d batches, the last %v after the last delivery; of %d messages %d had none, %d more than one; %d events of unknown messages\n",
		c.sent.Load(), c.failed.Load(), c.batches.Load(), c.lastAt.Sub(lastDelivery).Round(time.Millisecond), total, missing, twice, stranger)
	if missing != 0 || twice != 0 || stranger != 0 {
		fmt.Println("callback:  FAILED: not exactly one sent or failed event per message")
	}
}

// clientEvents reports every message delivered from concurrent clients of
// the public client event endpoint, and waits for those events at the
// callback.
func clientEvents(t *tb, o options, c *client, consumer *eventConsumer, path string, ids []string) {
	total := int64(len(ids))
	var next atomic.Int64
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, len(ids))
	start := time.Now()
	var wg sync.WaitGroup
	for range o.eventConns {
		wg.Go(func() {
			var mine []time.Duration
			for i := next.Add(1) - 1; i < total; i = next.Add(1) - 1 {
				t0 := time.Now()
				req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(`{"messageId":"`+ids[i]+`"}`))
				req.Header.Set("Content-Type", "application/json")
				res, err := c.http.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					t.Fatalf("client event: %d", res.StatusCode)
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	answered := time.Since(start)
	for consumer.delivered.Load() < total {
		time.Sleep(5 * time.Millisecond)
	}
	arrived := time.Since(start)
	slices.Sort(latencies)
	fmt.Printf("events:    %d delivered reports from %d clients in %v (%.0f requests/s); answer p50 %v  p99 %v\n",
		total, o.eventConns, answered.Round(time.Millisecond), float64(total)/answered.Seconds(), latency.Pct(latencies, 50), latency.Pct(latencies, 99))
	fmt.Printf("webhooks:  all %d delivered events at the callback after %v (%.0f events/s), %d batches in all\n",
		total, arrived.Round(time.Millisecond), float64(total)/arrived.Seconds(), consumer.batches.Load())
}
