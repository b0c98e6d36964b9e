package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BaresipOptions describe a baresip (Debian's baresip-core 1.0.0) acting as
// a robot: one SIP account that registers with digest auth and answers
// every call by itself, a 440 Hz sine (ausine) as its microphone and no
// sound card.
type BaresipOptions struct {
	// Registrar is the SIP server's host:port (required).
	Registrar string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// User and Password are the device's SIP credentials (required).
	User, Password string
	// Regint is the registration interval in seconds (default 60).
	Regint int
	// Codecs are the audio codec modules to load, in order of preference:
	// "g711" (PCMU, PCMA) and/or "opus" (default: g711).
	Codecs []string
	// MessageTo is the SIP URI /message sends to (baresip's current
	// contact); empty: sip:attendant@Registrar.
	MessageTo string
}

// Baresip is a running baresip with its control channel (the ctrl_tcp
// module: JSON in netstrings over TCP). Commands are those of baresip's
// menu ("sndcode", "hangup", "audio_debug", "message", ...); in-call
// commands exist only while a call is up.
type Baresip struct {
	proc    *process
	dir     string
	logPath string
	sipPort int

	conn   net.Conn
	events chan BaresipEvent
	readWG sync.WaitGroup

	mu      sync.Mutex
	waiters map[string]chan baresipResponse
	seen    []BaresipEvent
	token   int
}

// BaresipEvent is one event baresip reports on its control channel, e.g.
// Type "REGISTER_OK", "CALL_INCOMING", "CALL_ESTABLISHED", "CALL_CLOSED".
type BaresipEvent struct {
	Type      string `json:"type"`
	Class     string `json:"class"`
	AOR       string `json:"accountaor"`
	Direction string `json:"direction"`
	PeerURI   string `json:"peeruri"`
	ID        string `json:"id"`
	Param     string `json:"param"`
}

type baresipResponse struct {
	OK   bool   `json:"ok"`
	Data string `json:"data"`
}

// StartBaresip starts baresip with a fresh configuration directory and
// waits until its control channel answers. It registers on its own (wait
// for the registrar's binding or the REGISTER_OK event). It is stopped
// (SIGTERM, which unregisters, then SIGKILL) when the test ends.
func StartBaresip(t testing.TB, o BaresipOptions) *Baresip {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		missing(t, "baresip not found (make test installs baresip-core)")
	}
	if o.Registrar == "" || o.User == "" || o.Password == "" {
		t.Fatal("testenv: baresip needs Registrar, User and Password")
	}
	if o.Transport == "" {
		o.Transport = "udp"
	}
	if o.Regint == 0 {
		o.Regint = 60
	}
	if len(o.Codecs) == 0 {
		o.Codecs = []string{"g711"}
	}
	if o.MessageTo == "" {
		o.MessageTo = "sip:attendant@" + o.Registrar
	}
	var lastErr error
	for range 3 { // a port chosen free may be taken before baresip binds it
		b, err := startBaresip(t, bin, o)
		if err == nil {
			return b
		}
		lastErr = err
	}
	t.Fatalf("testenv: start baresip: %v", lastErr)
	return nil
}

func startBaresip(t testing.TB, bin string, o BaresipOptions) (*Baresip, error) {
	dir := t.TempDir()
	sipPort, err := freeUDPTCPPort()
	if err != nil {
		return nil, err
	}
	ctrlPort, err := freePort()
	if err != nil {
		return nil, err
	}
	modules := []string{"module ausine.so"}
	for _, c := range o.Codecs {
		modules = append(modules, "module "+c+".so")
	}
	config := strings.Join(append([]string{
		"poll_method epoll",
		"sip_listen 127.0.0.1:" + strconv.Itoa(sipPort),
		"module_path /usr/lib/baresip/modules",
		// without it baresip finds no address in a loopback-only network
		// namespace and fails with "Protocol not supported"
		"net_interface 127.0.0.1",
		"audio_source ausine,440",
		// aubridge with no source of that name: played audio goes nowhere,
		// so no sound card is needed
		"audio_player aubridge,nil",
		"ausrc_srate 48000", "auplay_srate 48000", "ausrc_channels 2", "auplay_channels 2",
		"module aubridge.so",
		"module_app account.so", "module_app contact.so", "module_app menu.so",
		"module_app ctrl_tcp.so",
		"ctrl_tcp_listen 127.0.0.1:" + strconv.Itoa(ctrlPort),
	}, modules...), "\n") + "\n"
	account := fmt.Sprintf("<sip:%s@%s;transport=%s>;auth_pass=%s;regint=%d;answermode=auto\n",
		o.User, o.Registrar, o.Transport, o.Password, o.Regint)
	contacts := fmt.Sprintf("\"attendant\" <%s>\n", o.MessageTo)
	for name, body := range map[string]string{"config": config, "accounts": account, "contacts": contacts} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return nil, err
		}
	}
	logPath := filepath.Join(dir, "baresip.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	// -s: SIP trace, so the log shows every message (tests look at what
	// baresip received); -v: debug output for media details
	path, args := bin, []string{"-f", dir, "-s", "-v"}
	if sb, err := exec.LookPath("stdbuf"); err == nil {
		// baresip's stdout is a file: without line buffering a test reading
		// the log would not see the last messages yet
		path, args = sb, append([]string{"-oL", "-eL", bin}, args...)
	}
	p, err := startProcess(procConfig{name: "baresip", path: path, args: args,
		env: os.Environ(), dir: dir, log: logf})
	if err != nil {
		return nil, err
	}
	b := &Baresip{proc: p, dir: dir, logPath: logPath, sipPort: sipPort,
		events: make(chan BaresipEvent, 256), waiters: make(map[string]chan baresipResponse)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p.exited() {
			return nil, fmt.Errorf("baresip exited at start: %v\n%s", p.err, logTail(logPath, 20))
		}
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(ctrlPort), time.Second)
		if err == nil {
			b.conn = conn
			break
		}
		if time.Now().After(deadline) {
			_ = p.stop(syscall.SIGKILL, time.Second)
			return nil, fmt.Errorf("baresip control port %d: %w\n%s", ctrlPort, err, logTail(logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.readWG.Add(1)
	go b.read()
	t.Cleanup(func() {
		b.Stop()
		reportOnFailure(t, "baresip", logPath)
	})
	return b, nil
}

// freeUDPTCPPort returns a port on 127.0.0.1 free for UDP and TCP a moment
// ago (baresip's sip_listen binds both).
func freeUDPTCPPort() (int, error) {
	var err error
	for range 20 {
		var u net.PacketConn
		u, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			continue
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		var l net.Listener
		l, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		_ = u.Close()
		if err != nil {
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for UDP and TCP: %w", err)
}

// SIPPort is the port baresip listens for SIP on (UDP and TCP, 127.0.0.1).
func (b *Baresip) SIPPort() int { return b.sipPort }

// Log returns what baresip printed so far.
func (b *Baresip) Log() string {
	out, _ := os.ReadFile(b.logPath)
	return string(out)
}

// Command runs one command (without the leading slash) with its parameter
// string and returns what it printed. ok false from baresip is an error.
func (b *Baresip) Command(ctx context.Context, cmd, params string) (string, error) {
	b.mu.Lock()
	b.token++
	token := "t" + strconv.Itoa(b.token)
	reply := make(chan baresipResponse, 1)
	b.waiters[token] = reply
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiters, token)
		b.mu.Unlock()
	}()
	msg, err := json.Marshal(map[string]string{"command": cmd, "params": params, "token": token})
	if err != nil {
		return "", err
	}
	if d, ok := ctx.Deadline(); ok {
		_ = b.conn.SetWriteDeadline(d)
	}
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(msg), msg); err != nil {
		return "", fmt.Errorf("baresip command %s: %w", cmd, err)
	}
	select {
	case r := <-reply:
		if !r.OK {
			return r.Data, fmt.Errorf("baresip command %s %q failed: %s", cmd, params, strings.TrimSpace(r.Data))
		}
		return r.Data, nil
	case <-ctx.Done():
		return "", fmt.Errorf("baresip command %s: %w", cmd, ctx.Err())
	case <-b.proc.done:
		return "", fmt.Errorf("baresip command %s: baresip exited: %v", cmd, b.proc.err)
	}
}

// Do is Command for tests: it fails the test on an error (10 s limit).
func (b *Baresip) Do(t testing.TB, cmd, params string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := b.Command(ctx, cmd, params)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// WaitEvent waits for the next event of the given type (earlier events of
// other types are skipped, but stay in Seen).
func (b *Baresip) WaitEvent(t testing.TB, typ string, timeout time.Duration) BaresipEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-b.events:
			if !ok {
				t.Fatalf("baresip: control channel closed waiting for %s\n%s", typ, logTail(b.logPath, 30))
			}
			if ev.Type == typ {
				return ev
			}
		case <-deadline:
			t.Fatalf("baresip: no %s event within %v (seen: %v)\n%s", typ, timeout, b.Seen(), logTail(b.logPath, 30))
		}
	}
}

// Seen returns the types of every event so far.
func (b *Baresip) Seen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.seen))
	for i, ev := range b.seen {
		out[i] = ev.Type
	}
	return out
}

// Stop ends baresip: SIGTERM (it unregisters), SIGKILL after 5 s.
func (b *Baresip) Stop() {
	_ = b.proc.stop(syscall.SIGTERM, 5*time.Second)
	_ = b.conn.Close()
	b.readWG.Wait()
}

// Exited is closed when the process has exited.
func (b *Baresip) Exited() <-chan struct{} { return b.proc.done }

// read takes netstrings off the control connection: responses go to their
// Command, events to the events channel.
func (b *Baresip) read() {
	defer b.readWG.Done()
	defer close(b.events)
	r := bufio.NewReader(b.conn)
	for {
		msg, err := readNetstring(r)
		if err != nil {
			return
		}
		var head struct {
			Event    bool   `json:"event"`
			Response bool   `json:"response"`
			Token    string `json:"token"`
		}
		if json.Unmarshal(msg, &head) != nil {
			continue
		}
		switch {
		case head.Response:
			var res baresipResponse
			_ = json.Unmarshal(msg, &res)
			b.mu.Lock()
			w := b.waiters[head.Token]
			b.mu.Unlock()
			if w != nil {
				w <- res
			}
		case head.Event:
			var ev BaresipEvent
			_ = json.Unmarshal(msg, &ev)
			b.mu.Lock()
			b.seen = append(b.seen, ev)
			b.mu.Unlock()
			select {
			case b.events <- ev:
			default: // nobody waits for events: keep only Seen
			}
		}
	}
}

// readNetstring reads one "len:data," netstring.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[:len(head)-1]))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("netstring length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, errors.New("netstring without a trailing comma")
	}
	return buf[:n], nil
}

// SIPMessage is one SIP message in baresip's trace: sent when From is
// baresip's address, else received.
type SIPMessage struct {
	Transport string // "UDP", "TCP"
	From, To  string // ip:port
	Text      string // start line, headers, body (CRLF or LF line ends)
}

// StartLine is the request or status line.
func (m SIPMessage) StartLine() string {
	line, _, _ := strings.Cut(m.Text, "\n")
	return strings.TrimSpace(line)
}

// Body is what follows the first empty line.
func (m SIPMessage) Body() string {
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	_, body, _ := strings.Cut(text, "\n\n")
	return body
}

// SIPTrace returns the SIP messages baresip sent and received so far, in
// order (from its -s trace).
func (b *Baresip) SIPTrace() []SIPMessage {
	return parseSIPTrace(b.Log())
}

// parseSIPTrace reads baresip's trace blocks: an ANSI-coloured "#", a
// "UDP a -> b" line, the message, and the colour reset.
func parseSIPTrace(log string) []SIPMessage {
	var out []SIPMessage
	blocks := strings.Split(log, "\x1b[36;1m#\n")
	for _, blk := range blocks[1:] {
		blk, _, _ = strings.Cut(blk, "\x1b[;m")
		head, text, ok := strings.Cut(blk, "\n")
		if !ok {
			continue
		}
		f := strings.Fields(head)
		if len(f) != 4 || f[2] != "->" {
			continue
		}
		out = append(out, SIPMessage{Transport: f[0], From: f[1], To: f[3], Text: strings.TrimRight(text, "\r\n")})
	}
	return out
}
