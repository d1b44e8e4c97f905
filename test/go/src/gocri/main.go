// gocri is a CRI client written with grpc-go, for berth's tests: it dials the CRI socket the way
// kubelet and crictl do and carries each call's protobuf bytes as they are. The parent process
// (test/helpers/go-cri.ts) encodes requests and decodes replies with berth's own protobuf code, so
// this program needs no generated CRI stubs. See docs/clients.md.
//
// Protocol: one JSON object per line on stdin, one per line on stdout ([]byte fields in base64).
//
//	in:  {"id":1,"method":"/runtime.v1.RuntimeService/Version","req":"<b64>","timeoutMs":60000}
//	out: {"id":1,"resp":"<b64>"}  or  {"id":1,"code":5,"message":"..."}
//	in:  {"id":2,"method":"/runtime.v1.RuntimeService/GetContainerEvents","req":"","stream":true}
//	out: {"id":2,"resp":"<b64>"} per message, then {"id":2,"end":true} or an error line
//	in:  {"id":2,"cancel":true}   cancels call 2 (its error line, code 1, still comes)
//	in:  {"id":3,"method":"...","loop":{"reqs":["<b64>",...],"count":500,"perCall":true,"parallel":1}}
//	out: {"id":3,"us":[812,640,...]}  each call's time in µs, measured here (bench/, docs/bench.md)
//
// A loop makes `count` calls of one method, call i with reqs[i % len(reqs)], from `parallel`
// goroutines, and times each call in Go, so the parent's JSON and pipe do not count. With
// perCall each call dials, calls and closes its own connection, as a crictl process does (the
// time covers all three); without it the calls share the program's connection (kubelet).
//
// Calls run concurrently, one goroutine each. At the end of stdin the program waits for the calls
// still running (each ends by its deadline at the latest, or by a cancel line) and exits.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// kubelet's and crictl's limit on a reply (maxMsgSize in kubelet's remote CRI client).
const maxRecvMsgSize = 16 * 1024 * 1024

// rawCodec takes the place of grpc-go's "proto" codec (registered in init, after grpc's own):
// a message is a *[]byte that already holds the encoded protobuf.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	// grpc-go may reuse its receive buffer after Unmarshal returns.
	*b = append([]byte{}, data...)
	return nil
}

func init() {
	encoding.RegisterCodec(rawCodec{})
}

type request struct {
	ID        uint64 `json:"id"`
	Method    string `json:"method"`
	Req       []byte `json:"req"`
	TimeoutMs int64  `json:"timeoutMs"`
	Stream    bool   `json:"stream"`
	Cancel    bool   `json:"cancel"`
	Loop      *loop  `json:"loop"`
}

type loop struct {
	Reqs     [][]byte `json:"reqs"`
	Count    int      `json:"count"`
	PerCall  bool     `json:"perCall"`
	Parallel int      `json:"parallel"`
}

type timesLine struct {
	ID uint64  `json:"id"`
	Us []int64 `json:"us"`
}

type messageLine struct {
	ID   uint64 `json:"id"`
	Resp []byte `json:"resp"`
}

type errorLine struct {
	ID      uint64     `json:"id"`
	Code    codes.Code `json:"code"`
	Message string     `json:"message"`
}

type endLine struct {
	ID  uint64 `json:"id"`
	End bool   `json:"end"`
}

// output writes whole lines to stdout, one writer at a time.
type output struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *output) send(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gocri: encoding a reply: %v\n", err)
		os.Exit(2)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	// A failed write means the parent is gone; the end of stdin will stop the program.
	_, _ = o.w.Write(append(b, '\n'))
}

// dialer opens connections to the socket in one of two styles.
type dialer struct {
	socket string
	// "bare": the target is the socket path itself and a custom unix dialer opens it, as the
	// remote CRI client of kubelet and crictl 1.26 does (this grpc-go, like theirs, then sends
	// the path as :authority). "unix": the target is unix://<path> and grpc-go's own dialer
	// opens it (grpc-go then sends "localhost").
	style string
	// WithBlock: the dial waits until the connection is up (crictl's older getConnection does);
	// kubelet's dial returns at once and connects on the first call.
	block bool
}

func dialUnix(ctx context.Context, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "unix", addr)
}

func (d dialer) dial(ctx context.Context) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithInsecure(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
	}
	if d.block {
		opts = append(opts, grpc.WithBlock())
	}
	target := d.socket
	if d.style == "bare" {
		opts = append(opts, grpc.WithContextDialer(dialUnix))
	} else {
		target = "unix://" + d.socket
	}
	return grpc.DialContext(ctx, target, opts...)
}

type client struct {
	out    *output
	dialer dialer
	// kept is the one connection every call uses; nil means a new connection per call.
	kept *grpc.ClientConn

	mu      sync.Mutex
	running map[uint64]context.CancelFunc
	wg      sync.WaitGroup
}

func (c *client) start(r request) {
	var ctx context.Context
	var cancel context.CancelFunc
	if r.TimeoutMs > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), time.Duration(r.TimeoutMs)*time.Millisecond)
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	c.mu.Lock()
	c.running[r.ID] = cancel
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.running, r.ID)
			c.mu.Unlock()
			cancel()
		}()
		c.serve(ctx, r)
	}()
}

func (c *client) cancel(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cancel, ok := c.running[id]; ok {
		cancel()
	}
}

func (c *client) fail(id uint64, err error) {
	var st *status.Status
	if err == context.DeadlineExceeded || err == context.Canceled {
		st = status.FromContextError(err)
	} else {
		st = status.Convert(err)
	}
	c.out.send(errorLine{ID: id, Code: st.Code(), Message: st.Message()})
}

func (c *client) serve(ctx context.Context, r request) {
	if r.Loop != nil {
		c.loop(ctx, r)
		return
	}
	conn := c.kept
	if conn == nil {
		// Per call, as crictl (one process per command) and exec probes through it connect.
		var err error
		if conn, err = c.dialer.dial(ctx); err != nil {
			c.fail(r.ID, err)
			return
		}
		defer conn.Close()
	}
	if r.Stream {
		c.stream(ctx, conn, r)
		return
	}
	resp := []byte{}
	if err := conn.Invoke(ctx, r.Method, &r.Req, &resp); err != nil {
		c.fail(r.ID, err)
		return
	}
	c.out.send(messageLine{ID: r.ID, Resp: resp})
}

// loop runs r.Loop (see the protocol above); the first failed call ends it with its error.
func (c *client) loop(ctx context.Context, r request) {
	l := r.Loop
	if len(l.Reqs) == 0 || l.Count <= 0 {
		c.fail(r.ID, status.Error(codes.InvalidArgument, "loop needs reqs and a count > 0"))
		return
	}
	if !l.PerCall && c.kept == nil {
		c.fail(r.ID, status.Error(codes.InvalidArgument, "a loop on a kept connection needs -conn kept"))
		return
	}
	parallel := l.Parallel
	if parallel < 1 {
		parallel = 1
	}
	us := make([]int64, l.Count)
	var next int64 = -1
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for g := 0; g < parallel; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				next++
				i := next
				stop := first != nil || int(i) >= l.Count
				mu.Unlock()
				if stop {
					return
				}
				t := time.Now()
				err := c.timedCall(ctx, r.Method, l.Reqs[int(i)%len(l.Reqs)], l.PerCall)
				us[i] = time.Since(t).Microseconds()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		c.fail(r.ID, first)
		return
	}
	c.out.send(timesLine{ID: r.ID, Us: us})
}

// timedCall is one unary call of a loop, on its own connection when perCall.
func (c *client) timedCall(ctx context.Context, method string, req []byte, perCall bool) error {
	conn := c.kept
	if perCall {
		var err error
		if conn, err = c.dialer.dial(ctx); err != nil {
			return err
		}
		defer conn.Close()
	}
	in := req
	resp := []byte{}
	return conn.Invoke(ctx, method, &in, &resp)
}

func (c *client) stream(ctx context.Context, conn *grpc.ClientConn, r request) {
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, r.Method)
	if err == nil {
		// io.EOF here means the server already ended the stream: RecvMsg gives its status.
		if err = s.SendMsg(&r.Req); err == io.EOF {
			err = nil
		}
	}
	if err == nil {
		err = s.CloseSend()
	}
	for err == nil {
		msg := []byte{}
		if err = s.RecvMsg(&msg); err == nil {
			c.out.send(messageLine{ID: r.ID, Resp: msg})
		}
	}
	if err == io.EOF {
		c.out.send(endLine{ID: r.ID, End: true})
		return
	}
	c.fail(r.ID, err)
}

func main() {
	address := flag.String("address", "/run/berth/berth.sock", "CRI socket: a path or unix:// URL")
	style := flag.String("dial", "bare", `"bare": target is the socket path (kubelet/crictl 1.26); "unix": target is unix://<path>`)
	connMode := flag.String("conn", "kept", `"kept": one connection for all calls (kubelet); "per-call": dial and close per call (crictl)`)
	block := flag.Bool("block", false, "dial with WithBlock (wait for the connection before calling)")
	dialTimeout := flag.Duration("dial-timeout", 2*time.Minute, "bound of a blocking dial of the kept connection")
	flag.Parse()
	if *style != "bare" && *style != "unix" {
		fmt.Fprintf(os.Stderr, "gocri: -dial must be bare or unix, got %q\n", *style)
		os.Exit(2)
	}
	if *connMode != "kept" && *connMode != "per-call" {
		fmt.Fprintf(os.Stderr, "gocri: -conn must be kept or per-call, got %q\n", *connMode)
		os.Exit(2)
	}

	c := &client{
		out:     &output{w: os.Stdout},
		dialer:  dialer{socket: strings.TrimPrefix(*address, "unix://"), style: *style, block: *block},
		running: map[uint64]context.CancelFunc{},
	}
	if *connMode == "kept" {
		ctx, cancel := context.WithTimeout(context.Background(), *dialTimeout)
		conn, err := c.dialer.dial(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "gocri: dial %s: %v\n", *address, err)
			os.Exit(1)
		}
		c.kept = conn
	}

	in := json.NewDecoder(bufio.NewReaderSize(os.Stdin, 1<<20))
	for {
		var r request
		if err := in.Decode(&r); err != nil {
			if err != io.EOF {
				fmt.Fprintf(os.Stderr, "gocri: reading a request: %v\n", err)
			}
			break
		}
		if r.Cancel {
			c.cancel(r.ID)
			continue
		}
		c.start(r)
	}
	c.wg.Wait()
	if c.kept != nil {
		c.kept.Close()
	}
}
