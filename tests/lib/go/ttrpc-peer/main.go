// ttrpc-peer: the Go side of the interop tests and the Go peer of the
// benchmark, built offline against Debian's github.com/containerd/ttrpc.
//
//	ttrpc-peer server SOCKET          serve coffer.test.Echo on a unix socket
//	ttrpc-peer client SOCKET          call a C server's coffer.test.Echo, check the answers
//	ttrpc-peer bench-server SOCKET    serve coffer.bench.Bench/Ping
//	ttrpc-peer bench-client SOCKET SECONDS DEPTH   print calls/s and latency
//
// Messages are gogo's StringValue (field 1, a string), so the C side can use
// any message with a string in field 1.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const nsKey = "containerd-namespace-ttrpc"

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "ttrpc-peer: "+format+"\n", args...)
	os.Exit(1)
}

func listen(path string) net.Listener {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		fail("listen %s: %v", path, err)
	}
	return l
}

func serve(path string, service string, methods map[string]ttrpc.Method) {
	s, err := ttrpc.NewServer()
	if err != nil {
		fail("new server: %v", err)
	}
	s.Register(service, methods)
	l := listen(path)
	fmt.Println("ready")
	if err := s.Serve(context.Background(), l); err != nil {
		fail("serve: %v", err)
	}
}

func echoServer(path string) {
	serve(path, "coffer.test.Echo", map[string]ttrpc.Method{
		// Echo answers "<value>|<namespace metadata>".
		"Echo": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.StringValue
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			ns, _ := ttrpc.GetMetadataValue(ctx, nsKey)
			return &types.StringValue{Value: req.Value + "|" + ns}, nil
		},
		// Fail answers NOT_FOUND with the request's value in the message.
		"Fail": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.StringValue
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			return nil, status.Errorf(codes.NotFound, "no such thing: %s", req.Value)
		},
		// Sleep answers after the given number of milliseconds.
		"Sleep": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.StringValue
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			ms, _ := strconv.Atoi(req.Value)
			time.Sleep(time.Duration(ms) * time.Millisecond)
			return &types.StringValue{Value: "slept"}, nil
		},
	})
}

func dial(path string) *ttrpc.Client {
	conn, err := net.Dial("unix", path)
	if err != nil {
		fail("dial %s: %v", path, err)
	}
	return ttrpc.NewClient(conn)
}

// echoClient checks a C server: value and metadata round trip, an error
// status, an unknown method, and a slow call that does not block a fast one.
func echoClient(path string) {
	c := dial(path)
	defer c.Close()
	ctx := ttrpc.WithMetadata(context.Background(), ttrpc.MD{nsKey: []string{"k8s.io"}})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	var resp types.StringValue
	if err := c.Call(ctx, "coffer.test.Echo", "Echo", &types.StringValue{Value: "from-go"}, &resp); err != nil {
		fail("Echo: %v", err)
	}
	if resp.Value != "from-go|k8s.io" {
		fail("Echo: got %q", resp.Value)
	}

	err := c.Call(ctx, "coffer.test.Echo", "Fail", &types.StringValue{Value: "x"}, &resp)
	if st, ok := status.FromError(err); !ok || st.Code() != codes.NotFound || st.Message() != "no such thing: x" {
		fail("Fail: want NotFound \"no such thing: x\", got %v", err)
	}

	err = c.Call(ctx, "coffer.test.Echo", "Missing", &types.StringValue{}, &resp)
	if st, ok := status.FromError(err); !ok || st.Code() != codes.Unimplemented {
		fail("Missing: want Unimplemented, got %v", err)
	}

	var wg sync.WaitGroup
	var slowErr error
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		var r types.StringValue
		slowErr = c.Call(ctx, "coffer.test.Echo", "Sleep", &types.StringValue{Value: "1000"}, &r)
	}()
	time.Sleep(50 * time.Millisecond)
	if err := c.Call(ctx, "coffer.test.Echo", "Echo", &types.StringValue{Value: "fast"}, &resp); err != nil {
		fail("Echo during Sleep: %v", err)
	}
	if d := time.Since(start); d > 600*time.Millisecond {
		fail("Echo waited for Sleep: %v", d)
	}
	wg.Wait()
	if slowErr != nil {
		fail("Sleep: %v", slowErr)
	}
	fmt.Println("ok")
}

func benchServer(path string) {
	serve(path, "coffer.bench.Bench", map[string]ttrpc.Method{
		"Ping": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.StringValue
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			return &req, nil
		},
	})
}

// benchClient runs DEPTH goroutines issuing calls back to back for SECONDS
// and prints "calls_per_sec=N median_us=N p99_us=N".
func benchClient(path string, seconds float64, depth int) {
	c := dial(path)
	defer c.Close()
	payload := strings.Repeat("x", 64)
	// warm up
	for i := 0; i < 1000; i++ {
		var r types.StringValue
		if err := c.Call(context.Background(), "coffer.bench.Bench", "Ping", &types.StringValue{Value: payload}, &r); err != nil {
			fail("Ping: %v", err)
		}
	}
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	lat := make([][]time.Duration, depth)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < depth; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			req := &types.StringValue{Value: payload}
			for time.Now().Before(deadline) {
				var r types.StringValue
				t0 := time.Now()
				if err := c.Call(context.Background(), "coffer.bench.Bench", "Ping", req, &r); err != nil {
					fail("Ping: %v", err)
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	n := len(all)
	fmt.Printf("calls_per_sec=%.0f median_us=%.1f p99_us=%.1f\n", float64(n)/elapsed.Seconds(),
		float64(all[n/2].Nanoseconds())/1000, float64(all[n*99/100].Nanoseconds())/1000)
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: ttrpc-peer server|client|bench-server|bench-client SOCKET [SECONDS DEPTH]")
	}
	if p := os.Getenv("TTRPC_PEER_PROCS"); p != "" {
		n, _ := strconv.Atoi(p)
		runtime.GOMAXPROCS(n)
	}
	switch os.Args[1] {
	case "server":
		echoServer(os.Args[2])
	case "client":
		echoClient(os.Args[2])
	case "bench-server":
		benchServer(os.Args[2])
	case "bench-client":
		if len(os.Args) < 5 {
			fail("bench-client SOCKET SECONDS DEPTH")
		}
		secs, _ := strconv.ParseFloat(os.Args[3], 64)
		depth, _ := strconv.Atoi(os.Args[4])
		benchClient(os.Args[2], secs, depth)
	default:
		fail("unknown mode %s", os.Args[1])
	}
}
