package imagecdn_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/imagecdn"
)

// forgetfulStore keeps nothing, so every upload is decoded and resized.
type forgetfulStore struct{}

func (forgetfulStore) Put(context.Context, string, string, []byte) error { return nil }
func (forgetfulStore) Open(context.Context, string) (*imagecdn.Object, error) {
	return nil, pushgate.NotFound("image")
}
func (forgetfulStore) Has(context.Context, string) (bool, error) { return false, nil }

var (
	largeJPEGOnce sync.Once
	largeJPEG     []byte
)

// photo4000x3000 is a 12-megapixel camera-sized JPEG (made once per run:
// encoding it takes longer than resizing it).
func photo4000x3000(tb testing.TB) []byte {
	largeJPEGOnce.Do(func() { largeJPEG = encodeJPEG(tb, photo(4000, 3000, 42)) })
	return largeJPEG
}

// BenchmarkVariants4000x3000 makes all default variants of a 4000x3000
// JPEG: read, hash, decode, resize, encode (storing is left out).
func BenchmarkVariants4000x3000(b *testing.B) {
	src := photo4000x3000(b)
	p, _ := newProcessor(b, imagecdn.Options{Store: forgetfulStore{}})
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		if _, err := p.Upload(context.Background(), bytes.NewReader(src)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
	b.ReportMetric(float64((processCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/image")
}

// BenchmarkDecode4000x3000 is the decoding share of the above.
func BenchmarkDecode4000x3000(b *testing.B) {
	src := photo4000x3000(b)
	for b.Loop() {
		if _, err := imagecdn.Decode(src, imagecdn.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServe serves a stored variant over loopback HTTP with
// keep-alive from parallel clients; the client shares the 2 cores.
func BenchmarkServe(b *testing.B) {
	h, im, body := servedVariant(b)
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	url := srv.URL + "/cdn/" + im.Key
	b.SetBytes(int64(len(body)))
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || n != int64(len(body)) {
				b.Errorf("%d, %d bytes", res.StatusCode, n)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkServeHandler is the handler alone, without the network.
func BenchmarkServeHandler(b *testing.B) {
	h, im, _ := servedVariant(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/cdn/"+im.Key, nil))
			if w.Code != 200 {
				b.Errorf("%d", w.Code)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// TestPeakMemoryTwentyLargeImages fetches and processes 20 different
// 4000x3000 JPEGs at once with the default settings and samples the heap.
// Fetching is not bounded (the callers' worker count bounds it), decoding
// and resizing are: the peak is about Concurrency decoded images plus 20
// fetched bodies.
func TestPeakMemoryTwentyLargeImages(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow; and the race detector's shadow memory makes the figures meaningless")
	}
	base := photo4000x3000(t)
	sources := make([][]byte, 20)
	for i := range sources {
		// A comment segment makes each source distinct bytes, so each is
		// decoded and resized: nothing is shared by content addressing.
		sources[i] = withSegment(base, 0xfe, []byte(fmt.Sprintf("image %d", i)))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		fmt.Sscanf(r.URL.Path, "/%d.jpg", &i)
		w.Write(sources[i])
	}))
	defer srv.Close()
	p, _ := newProcessor(t, imagecdn.Options{})

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline, startTotal := ms.HeapInuse, ms.TotalAlloc
	var peakInuse, peakSys uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakInuse, peakSys = max(peakInuse, ms.HeapInuse), max(peakSys, ms.HeapSys)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(sources))
	for i := range sources {
		wg.Go(func() {
			res, err := p.Process(context.Background(), fmt.Sprintf("%s/%d.jpg", srv.URL, i))
			if err == nil && res.Reused {
				err = fmt.Errorf("image %d reused", i)
			}
			errs <- err
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&ms)
	t.Logf("20 x 4000x3000 JPEG (%d KB each), concurrency %d: %v; peak HeapInuse %d MB (baseline %d MB), peak HeapSys %d MB, TotalAlloc %d MB, process peak RSS %s",
		len(base)>>10, runtime.GOMAXPROCS(0), elapsed.Round(time.Millisecond), peakInuse>>20, baseline>>20, peakSys>>20, (ms.TotalAlloc-startTotal)>>20, peakRSS())
	if peakInuse > 1<<30 {
		t.Fatalf("peak heap %d MB, want under 1 GB", peakInuse>>20)
	}
}

// peakRSS reads the process's high-water resident set size (Linux only).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
