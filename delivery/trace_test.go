package delivery

import (
	"context"
	"encoding/json"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/internal/tracing"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers"
)

// A task queued by a version without tracing has no trace field; one
// queued without tracing on writes none.
func TestSendTaskTraceIsOptional(t *testing.T) {
	var task sendTask
	if err := json.Unmarshal([]byte(`{"a":"app","b":"b","c":"c","r":"r","i":["m1"]}`), &task); err != nil || task.Trace != "" || task.IDs[0] != "m1" {
		t.Fatalf("old payload: %+v %v", task, err)
	}
	raw, _ := json.Marshal(sendTask{AppID: "app", IDs: []string{"m1"}})
	if string(raw) != `{"a":"app","b":"","c":"","r":"","i":["m1"]}` {
		t.Errorf("payload without tracing: %s", raw)
	}
}

// A task's span is the child of the span its payload names, and each
// provider call a child of the task's.
func TestTaskSpanJoinsTheSendTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	opts := benchOptions()
	opts.Tracing = tracing.New(tp)
	s := &Sender{opts: opts}
	ctx, end := s.traceAccept(context.Background(), 1)
	task := sendTask{IDs: []string{"m"}, Trace: s.traceparent(ctx)}
	end(1, 1)
	d := NewDeliverer(nil, finishNothing{}, nil, nil, providers.NewRegistry(), opts)
	tctx, endTask := d.traceTask(context.Background(), task)
	d.sendGroup(tctx, acceptAll{}, nil, &contexts.Context{}, benchMessages(1), make([]providers.Message, 1), []int{0}, make([]messages.Result, 1))
	endTask(1, 1)
	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	accept, call, taskSpan := spans[0], spans[1], spans[2]
	if taskSpan.Parent().SpanID() != accept.SpanContext().SpanID() || !taskSpan.Parent().IsRemote() ||
		call.Parent().SpanID() != taskSpan.SpanContext().SpanID() || call.SpanContext().TraceID() != accept.SpanContext().TraceID() {
		t.Errorf("spans: %s %s %s", accept.Name(), call.Name(), taskSpan.Name())
	}
	if links := opts.Tracing.Sends.Links([]string{"m"}); len(links) != 1 || links[0].SpanContext.SpanID() != taskSpan.SpanContext().SpanID() {
		t.Errorf("links of the task's messages: %v", links)
	}
}

// BenchmarkSendOneTraced is BenchmarkSendOne with tracing on: a span per
// provider call, under a task's span, exported in batches to nowhere.
func BenchmarkSendOneTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	opts := benchOptions()
	opts.Tracing = tracing.New(tp)
	d := NewDeliverer(nil, finishNothing{}, nil, nil, providers.NewRegistry(), opts)
	msgs := benchMessages(1)
	results := make([]messages.Result, 1)
	c := &contexts.Context{}
	group := []int{0}
	pms := make([]providers.Message, 1) // sendAll makes one a chunk
	ctx, end := d.traceTask(context.Background(), sendTask{IDs: []string{"m"}})
	defer end(0, 0)
	b.ReportAllocs()
	for b.Loop() {
		d.sendGroup(ctx, acceptAll{}, nil, c, msgs, pms, group, results)
	}
}
