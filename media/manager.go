package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Manager owns every camera: their ingests, streams and WebRTC viewers. Its
// methods are safe to call concurrently; cameras can be added, changed and
// removed while it runs.
type Manager struct {
	cfg ManagerConfig
	log *slog.Logger
	se  webrtc.SettingEngine
	mux *sharedMux // one batched UDP socket per address for all viewers
	// RTCP sender reports of every viewer from one goroutine
	reports *rtcpReports

	mu      sync.Mutex
	cams    map[string]*camera
	ctx     context.Context // set by Run
	stopped bool
	wg      sync.WaitGroup // ingests and viewer goroutines
}

// NewManager returns a manager ready to Run. The ICE settings are checked and
// built here; loopback candidates are turned on when the machine has no other
// usable address.
func NewManager(cfg ManagerConfig, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("media config: %w", err)
	}
	ifs, err := systemInterfaces()
	if err != nil {
		return nil, err
	}
	se, loop, err := newSettingEngine(cfg.ICE, ifs, log)
	if err != nil {
		return nil, fmt.Errorf("media ICE config: %w", err)
	}
	if loop && !cfg.ICE.IncludeLoopback {
		log.Info("no usable network address besides loopback: offering loopback ICE candidates")
	}
	return &Manager{
		cfg: cfg, log: log, se: se, mux: newSharedMux(cfg.ICE, ifs, loop, log),
		reports: newRTCPReports(rtcpReportInterval, log), cams: map[string]*camera{},
	}, nil
}

// Run starts the ingest of every enabled camera and keeps them running until
// ctx ends; then it stops every ingest and viewer and waits for them.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ctx != nil {
		m.mu.Unlock()
		return errors.New("media manager: Run called twice")
	}
	m.ctx = ctx
	cams := m.cameras()
	m.mu.Unlock()
	for _, c := range cams {
		m.apply(c, nil)
	}

	<-ctx.Done()

	m.mu.Lock()
	m.stopped = true
	cams = m.cameras()
	m.mu.Unlock()
	for _, c := range cams {
		c.opMu.Lock()
		c.stopIngest()
		c.opMu.Unlock()
		c.closeViewers(errors.New("media manager stopped"))
	}
	m.wg.Wait()
	return nil
}

func (m *Manager) cameras() []*camera {
	cs := make([]*camera, 0, len(m.cams))
	for _, c := range m.cams {
		cs = append(cs, c)
	}
	return cs
}

// goTracked runs f in a goroutine that Run waits for; it refuses (false)
// before Run and after Run has begun to stop.
func (m *Manager) goTracked(fs ...func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.stopped {
		return false
	}
	m.wg.Add(len(fs))
	for _, f := range fs {
		go func() {
			defer m.wg.Done()
			f()
		}()
	}
	return true
}

func (m *Manager) running() (context.Context, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ctx, m.ctx != nil && !m.stopped
}

// Upsert adds a camera or changes it. The ingest restarts only when the URL,
// credentials or transport changed; a disabled camera is stopped, its viewers
// closed, and its state is "disabled".
func (m *Manager) Upsert(cfg CameraConfig) {
	m.mu.Lock()
	c, ok := m.cams[cfg.ID]
	if !ok {
		c = newCamera(cfg.ID, m.cfg, m.log)
		m.cams[cfg.ID] = c
	}
	m.mu.Unlock()
	m.apply(c, &cfg)
}

// apply brings a camera's ingest in line with its config (nil: the current one).
func (m *Manager) apply(c *camera, cfg *CameraConfig) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	old := c.cfg
	if cfg != nil {
		c.cfg = *cfg
	}
	cur := c.cfg
	c.mu.Unlock()

	if !cur.Enabled {
		c.stopIngest()
		c.setState(StateDisabled, "")
		c.closeViewers(errors.New("camera disabled"))
		return
	}
	if c.ingestDone != nil && cur.connectionEqual(old) {
		return // running with the same connection settings
	}
	c.stopIngest()
	ctx, ok := m.running()
	if !ok {
		c.setState(StateConnecting, "")
		return // Run starts it
	}
	ictx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	if !m.goTracked(func() {
		defer close(done)
		c.runIngest(ictx, cur)
	}) {
		cancel()
		return
	}
	c.ingestCancel, c.ingestDone = cancel, done
	c.log.Info("camera ingest started", "url", redactURL(cur.URL), "transport", normTransport(cur.Transport))
}

// stopIngest stops the ingest and waits for it; callers hold opMu.
func (c *camera) stopIngest() {
	if c.ingestCancel == nil {
		return
	}
	c.ingestCancel()
	<-c.ingestDone
	c.ingestCancel, c.ingestDone = nil, nil
}

// Remove stops a camera's ingest, closes its viewers and forgets it.
func (m *Manager) Remove(id string) {
	m.mu.Lock()
	c, ok := m.cams[id]
	delete(m.cams, id)
	m.mu.Unlock()
	if !ok {
		return
	}
	c.opMu.Lock()
	c.stopIngest()
	c.opMu.Unlock()
	c.closeViewers(errors.New("camera removed"))
}

func (m *Manager) camera(id string) (*camera, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cams[id]
	if !ok {
		return nil, fmt.Errorf("camera %s: %w", id, ErrUnknownCamera)
	}
	return c, nil
}

// State returns one camera's state.
func (m *Manager) State(id string) (CameraState, bool) {
	c, err := m.camera(id)
	if err != nil {
		return CameraState{}, false
	}
	return c.snapshot(), true
}

// States returns the state of every camera by id.
func (m *Manager) States() map[string]CameraState {
	m.mu.Lock()
	cams := m.cameras()
	m.mu.Unlock()
	out := make(map[string]CameraState, len(cams))
	for _, c := range cams {
		out[c.id] = c.snapshot()
	}
	return out
}

func (c *camera) snapshot() CameraState {
	c.mu.Lock()
	st := CameraState{State: c.state, LastError: c.lastErr, Viewers: len(c.viewers)}
	if !c.connectedSince.IsZero() {
		t := c.connectedSince
		st.ConnectedSince = &t
	}
	c.mu.Unlock()
	st.Reconnects = c.reconnects.Load()
	c.stream.fill(&st, st.State == StateConnected)
	return st
}

// NewViewer answers a WHEP offer for a camera: it returns a session id and the
// SDP answer, with ICE gathering complete so the answer works without
// trickle. The viewer starts at the cached keyframe as soon as it connects.
func (m *Manager) NewViewer(ctx context.Context, cameraID, offerSDP string) (sessionID, answerSDP string, err error) {
	c, err := m.camera(cameraID)
	if err != nil {
		return "", "", err
	}
	runCtx, ok := m.running()
	if !ok {
		return "", "", fmt.Errorf("camera %s: media manager not running: %w", cameraID, ErrNotConnected)
	}
	if !c.config().Enabled {
		return "", "", fmt.Errorf("camera %s is disabled: %w", cameraID, ErrNotConnected)
	}
	info := c.stream.videoInfo()
	if info.codec == "" {
		return "", "", fmt.Errorf("camera %s: codec not known yet: %w", cameraID, ErrNotConnected)
	}
	id := newSessionID()
	se, release, err := m.mux.settingEngine(m.se)
	if err != nil {
		return "", "", fmt.Errorf("camera %s: new viewer: %w", cameraID, err)
	}
	v, answer, err := newViewer(ctx, runCtx, viewerParams{
		id: id, cameraID: cameraID, offer: offerSDP, info: info, stream: c.stream, se: se, reports: m.reports,
		queue: m.cfg.ViewerQueue, connectTimeout: m.cfg.ViewerConnectTimeout,
		log: c.log.With("viewer", id),
	})
	if err != nil {
		release()
		return "", "", fmt.Errorf("camera %s: new viewer: %w", cameraID, err)
	}
	c.mu.Lock()
	c.viewers[id] = v
	c.mu.Unlock()
	remove := func() { // after the viewer's PeerConnection is closed
		c.mu.Lock()
		delete(c.viewers, id)
		c.mu.Unlock()
		release()
	}
	if !m.goTracked(v.goroutines(remove)...) {
		v.close(errors.New("media manager stopped"))
		err := closePC(v.pc)
		remove()
		return "", "", errors.Join(fmt.Errorf("camera %s: media manager stopped: %w", cameraID, ErrNotConnected), err)
	}
	// removed or disabled while this viewer was negotiated: do not leave it behind
	m.mu.Lock()
	current := m.cams[cameraID] == c
	m.mu.Unlock()
	if !current || !c.config().Enabled {
		v.close(errors.New("camera removed or disabled"))
		return "", "", fmt.Errorf("camera %s removed or disabled meanwhile: %w", cameraID, ErrNotConnected)
	}
	return id, answer, nil
}

// CloseViewer ends a viewer session (WHEP DELETE) and waits, briefly, for its
// teardown.
func (m *Manager) CloseViewer(cameraID, sessionID string) error {
	c, err := m.camera(cameraID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	v, ok := c.viewers[sessionID]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("camera %s session %s: %w", cameraID, sessionID, ErrUnknownViewer)
	}
	v.close(errors.New("closed by client"))
	select {
	case <-v.done:
	case <-time.After(5 * time.Second):
		c.log.Warn("viewer teardown slow", "viewer", sessionID)
	}
	return nil
}

// Keyframe returns the camera's last keyframe as Annex-B (parameter sets and
// the IDR/IRAP access unit), or with fresh set waits for the next one; ctx
// bounds the wait. A camera that is not connected gives ErrNotConnected.
func (m *Manager) Keyframe(ctx context.Context, cameraID string, fresh bool) (Keyframe, error) {
	c, err := m.camera(cameraID)
	if err != nil {
		return Keyframe{}, err
	}
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	if state != StateConnected {
		return Keyframe{}, fmt.Errorf("camera %s is %s: %w", cameraID, state, ErrNotConnected)
	}
	kf, err := c.stream.keyframeAt(ctx, fresh)
	if err != nil {
		return Keyframe{}, fmt.Errorf("camera %s: %w", cameraID, err)
	}
	return kf, nil
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}
