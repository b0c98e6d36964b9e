package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attendant/attendant/media"
)

// CameraStates lists every camera's live state.
type CameraStates interface {
	States() map[string]media.CameraState
}

// cameraCollector exports camera state at scrape time, so nothing has to
// keep gauges in step with the cameras.
type cameraCollector struct {
	hub                                                      CameraStates
	up, fps, bitrate, width, height, lost, reconnects, views *prometheus.Desc
	drops                                                    *prometheus.Desc
}

// NewCameraCollector exports per-camera metrics: connected, fps, bitrate,
// resolution, packets lost, reconnects, viewers and viewer drops.
func NewCameraCollector(hub CameraStates) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("attendant_camera_"+name, help, append([]string{"camera"}, labels...), nil)
	}
	return &cameraCollector{
		hub:        hub,
		up:         d("state", "1 for the camera's current state.", "state", "codec"),
		fps:        d("fps", "Frames per second received."),
		bitrate:    d("bitrate_kbps", "Received video bitrate in kbit/s."),
		width:      d("width_pixels", "Video width."),
		height:     d("height_pixels", "Video height."),
		lost:       d("packets_lost_total", "RTP packets lost from the camera."),
		reconnects: d("reconnects_total", "Times the ingest reconnected."),
		views:      d("viewers", "Live viewers."),
		drops:      d("viewer_drops_total", "Packets dropped for slow viewers."),
	}
}

func (c *cameraCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.fps, c.bitrate, c.width, c.height, c.lost, c.reconnects, c.views, c.drops} {
		ch <- d
	}
}

func (c *cameraCollector) Collect(ch chan<- prometheus.Metric) {
	for id, st := range c.hub.States() {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1, id, st.State, st.Codec)
		ch <- prometheus.MustNewConstMetric(c.fps, prometheus.GaugeValue, st.FPS, id)
		ch <- prometheus.MustNewConstMetric(c.bitrate, prometheus.GaugeValue, st.BitrateKbps, id)
		ch <- prometheus.MustNewConstMetric(c.width, prometheus.GaugeValue, float64(st.Width), id)
		ch <- prometheus.MustNewConstMetric(c.height, prometheus.GaugeValue, float64(st.Height), id)
		ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(st.PacketsLost), id)
		ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(st.Reconnects), id)
		ch <- prometheus.MustNewConstMetric(c.views, prometheus.GaugeValue, float64(st.Viewers), id)
		ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(st.ViewerDrops), id)
	}
}

// metricsAuth asks for token as a bearer token before h (Prometheus:
// authorization.credentials in the scrape config); an empty token leaves
// h open.
func metricsAuth(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="attendant metrics"`)
			writeJSONError(w, withCode(newError(http.StatusUnauthorized, "metrics need the configured bearer token (--metrics-token)"), "unauthorized"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
