package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Stdio is the transport of `aima mcp`: newline-delimited JSON-RPC on In
// and Out, as the SDK's StdioTransport, but as the protocol asks where that
// one ends the session: a line that is not JSON is answered with a parse
// error (-32700), and a JSON line that is not a JSON-RPC message with
// invalid request (-32600), and the session goes on; at the end of the
// input every call already read is answered before the session ends, so
// `... | aima mcp` gets all its answers.
type Stdio struct {
	In  io.Reader
	Out io.Writer
}

// Connect starts reading In.
func (t *Stdio) Connect(ctx context.Context) (sdk.Connection, error) {
	c := &stdioConn{out: t.Out, lines: make(chan []byte), pending: map[any]bool{},
		answered: make(chan struct{}, 1), closed: make(chan struct{})}
	go c.scan(t.In)
	return c, nil
}

type stdioConn struct {
	out io.Writer
	wmu sync.Mutex // one message per line: writes do not interleave

	lines   chan []byte // from scan; closed at the end of input
	scanErr error       // why the input ended, set before lines is closed

	mu       sync.Mutex
	pending  map[any]bool  // ids of the calls read and not answered yet
	answered chan struct{} // a response was written

	closeOnce sync.Once
	closed    chan struct{}
}

func (c *stdioConn) scan(in io.Reader) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), sdk.DefaultMaxLineLength)
	for sc.Scan() {
		line := bytes.Clone(sc.Bytes())
		select {
		case c.lines <- line:
		case <-c.closed:
			return
		}
	}
	c.scanErr = sc.Err()
	close(c.lines)
}

// Read returns the next message; it answers and skips lines that are not
// one. At the end of the input it waits until the calls read are
// answered (or the connection is closed), then reports io.EOF.
func (c *stdioConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return nil, c.drain(ctx)
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			msg, err := jsonrpc.DecodeMessage(line)
			if err != nil {
				if werr := c.refuse(line, err); werr != nil {
					return nil, werr
				}
				continue
			}
			if req, ok := msg.(*jsonrpc.Request); ok {
				c.track(req)
			}
			return msg, nil
		case <-c.closed:
			return nil, io.EOF
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// track notes a call read, to be answered before the end; a cancelled
// call needs no answer (the protocol even advises against one).
func (c *stdioConn) track(req *jsonrpc.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.ID.IsValid() {
		c.pending[req.ID.Raw()] = true
		return
	}
	if req.Method == "notifications/cancelled" {
		var p struct {
			RequestID any `json:"requestId"`
		}
		if json.Unmarshal(req.Params, &p) == nil {
			if id, err := jsonrpc.MakeID(p.RequestID); err == nil {
				delete(c.pending, id.Raw())
			}
		}
	}
}

// drain waits for the answers to the calls read before the input ended.
func (c *stdioConn) drain(ctx context.Context) error {
	for {
		c.mu.Lock()
		n := len(c.pending)
		c.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-c.answered:
		case <-c.closed:
			return io.EOF
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if c.scanErr != nil {
		return fmt.Errorf("read input: %w", c.scanErr)
	}
	return io.EOF
}

// refuse answers a line that is not a JSON-RPC message: -32700 when it is
// not JSON, else -32600 (with its id when it has a usable one).
func (c *stdioConn) refuse(line []byte, err error) error {
	code, msg := jsonrpc.CodeParseError, "parse error: the line is not JSON"
	id := json.RawMessage("null")
	if json.Valid(line) {
		code, msg = jsonrpc.CodeInvalidRequest, fmt.Sprintf("invalid request: %v", err)
		var probe struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(line, &probe) == nil && len(probe.ID) > 0 && (probe.ID[0] == '"' || probe.ID[0] == '-' || (probe.ID[0] >= '0' && probe.ID[0] <= '9')) {
			id = probe.ID
		}
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}})
	return c.writeLine(b)
}

// Write writes msg as one line; a response marks its call answered.
func (c *stdioConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	b, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return err
	}
	err = c.writeLine(b)
	if resp, ok := msg.(*jsonrpc.Response); ok {
		c.mu.Lock()
		delete(c.pending, resp.ID.Raw())
		c.mu.Unlock()
		select {
		case c.answered <- struct{}{}:
		default:
		}
	}
	return err
}

func (c *stdioConn) writeLine(b []byte) error {
	select {
	case <-c.closed:
		return io.ErrClosedPipe
	default:
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.out.Write(append(b, '\n'))
	return err
}

func (c *stdioConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

func (c *stdioConn) SessionID() string { return "" }
