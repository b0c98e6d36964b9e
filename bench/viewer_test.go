//go:build linux

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// viewer is one WHEP client with a PeerConnection of its own, like a
// browser tab: it offers H264, posts the offer and counts what it receives.
type viewer struct {
	pc       *webrtc.PeerConnection
	hc       *http.Client
	location string // the WHEP session, for DELETE

	// start is just before the offer was posted; answered and firstFrame
	// are measured from it.
	start      time.Time
	answered   time.Duration
	firstFrame atomic.Int64 // ns after start, 0 until the first marker bit
	gotFrame   chan struct{}
	frameOnce  sync.Once

	pkts, frames, bytes atomic.Int64
}

// newClientAPI builds what a browser would offer: H264 constrained baseline
// with the default interceptors (NACK, RTCP reports, TWCC). Only loopback
// candidates, so that all traffic stays on 127.0.0.1.
func newClientAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		},
		PayloadType: 102,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// dialViewer offers, posts the offer to whepURL and applies the answer. The
// media flows once ICE and DTLS are done; wait with waitFrame.
func dialViewer(ctx context.Context, hc *http.Client, whepURL string) (*viewer, error) {
	api, err := newClientAPI()
	if err != nil {
		return nil, fmt.Errorf("client API: %w", err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	v := &viewer{pc: pc, hc: hc, gotFrame: make(chan struct{})}
	fail := func(err error) (*viewer, error) {
		return nil, errors.Join(err, pc.Close())
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return fail(fmt.Errorf("add transceiver: %w", err))
	}
	pc.OnTrack(v.read)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(fmt.Errorf("create offer: %w", err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(fmt.Errorf("set local description: %w", err))
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(fmt.Errorf("gather: %w", ctx.Err()))
	}

	v.start = time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, whepURL, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := hc.Do(req)
	if err != nil {
		return fail(fmt.Errorf("post offer: %w", err))
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return fail(fmt.Errorf("read answer: %w", err))
	}
	if resp.StatusCode != http.StatusCreated {
		return fail(fmt.Errorf("post offer: %s: %s", resp.Status, bytes.TrimSpace(answer)))
	}
	v.answered = time.Since(v.start)
	loc, err := url.Parse(whepURL)
	if err == nil {
		loc, err = loc.Parse(resp.Header.Get("Location"))
	}
	if err != nil {
		return fail(fmt.Errorf("session location: %w", err))
	}
	v.location = loc.String()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return nil, errors.Join(fmt.Errorf("set answer: %w", err), v.close())
	}
	return v, nil
}

// read counts one track's packets. It reads raw RTP rather than
// ReadRTP, which allocates a packet each time: the viewers share two cores
// with the server they measure.
func (v *viewer) read(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	go func() {
		// RTCP must be read for the interceptors to process sender reports
		buf := make([]byte, 1500)
		for {
			if _, _, err := rcv.Read(buf); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		v.pkts.Add(1)
		v.bytes.Add(int64(n))
		if tr.Kind() == webrtc.RTPCodecTypeVideo && n >= 2 && buf[1]&0x80 != 0 { // marker: last packet of a frame
			v.frames.Add(1)
			v.frameOnce.Do(func() {
				v.firstFrame.Store(int64(time.Since(v.start)))
				close(v.gotFrame)
			})
		}
	}
}

// waitFrame waits for the first complete video frame.
func (v *viewer) waitFrame(ctx context.Context) (time.Duration, error) {
	select {
	case <-v.gotFrame:
		return time.Duration(v.firstFrame.Load()), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("no video frame (%d packets, connection %s): %w", v.pkts.Load(), v.pc.ConnectionState(), ctx.Err())
	}
}

// close ends the WHEP session (DELETE) and the PeerConnection.
func (v *viewer) close() error {
	var errs []error
	if v.location != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, v.location, nil)
		if err == nil {
			var resp *http.Response
			if resp, err = v.hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					err = fmt.Errorf("delete session: %s", resp.Status)
				}
			}
		}
		errs = append(errs, err)
	}
	errs = append(errs, v.pc.Close())
	return errors.Join(errs...)
}
