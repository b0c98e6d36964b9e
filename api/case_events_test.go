package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// TestCaseUpdatesReachAgents: a case changed through the API (here: the
// agent closes it) is pushed as case.updated over the agents' WebSocket to
// its handler and the site's supervisor.
func TestCaseUpdatesReachAgents(t *testing.T) {
	f := newFixture(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	listen := func(c *client) <-chan map[string]any {
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.url, "http")+"/api/v1/ws",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + c.token}}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = ws.CloseNow() })
		out := make(chan map[string]any, 16)
		go func() {
			for {
				_, b, err := ws.Read(ctx)
				if err != nil {
					return
				}
				var m map[string]any
				if json.Unmarshal(b, &m) == nil && m["type"] == "case.updated" {
					out <- m
				}
			}
		}()
		return out
	}
	agent, supervisor := listen(f.agent), listen(f.supervisor)
	id := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA, "attribute": "driver at the gate"})
	require.Equal(t, 200, f.agent.do("POST", "/api/v1/cases/"+id+"/close", map[string]any{"remark": "done"}).status)
	for name, ch := range map[string]<-chan map[string]any{"agent": agent, "supervisor": supervisor} {
		select {
		case m := <-ch:
			c := m["case"].(map[string]any)
			require.Equal(t, id, c["id"], name)
			require.Equal(t, "closed", c["status"], name)
			require.Equal(t, "done", c["remark"], name)
		case <-time.After(10 * time.Second):
			t.Fatalf("the %s got no case.updated", name)
		}
	}
}
