package main

import (
	"context"
	"log/slog"

	"github.com/attendant/attendant/store"
)

// demoSiteCode marks the demo site, so a restart finds it again.
const demoSiteCode = "DEMO-A1004"

// seedDemo makes sure a demo store box with one camera on the built-in
// demo RTSP server exists, pointing at the demo server's current URL.
func seedDemo(ctx context.Context, db *store.DB, rtspURL string, log *slog.Logger) error {
	return db.InTx(ctx, func(q store.Q) error {
		sites, _, err := store.List[store.Site](ctx, q, store.Filter{Eq: map[string]string{"code": demoSiteCode}, Limit: 1})
		if err != nil {
			return err
		}
		now := store.Now()
		var site store.Site
		if len(sites) == 1 {
			site = sites[0]
		} else {
			lat, lng := 31.2304, 121.4737
			site = store.Site{ID: store.NewID(), Name: "演示无人店 Demo box", Kind: store.SiteBox, Code: demoSiteCode,
				Province: "上海市", City: "上海市", District: "黄浦区", Address: "Demo street 1",
				Latitude: &lat, Longitude: &lng, Notes: "Created by attendant serve --demo",
				CreatedAt: now, UpdatedAt: now}
			if err := store.Insert(ctx, q, &site); err != nil {
				return err
			}
			log.Info("created demo site", "site", site.ID)
		}
		cams, _, err := store.List[store.Camera](ctx, q, store.Filter{Eq: map[string]string{"site_id": site.ID}, Limit: 10})
		if err != nil {
			return err
		}
		for _, c := range cams {
			if c.Name == "Demo channel 1" {
				if c.URL != rtspURL {
					c.URL, c.UpdatedAt = rtspURL, now
					return store.Update(ctx, q, &c)
				}
				return nil
			}
		}
		cam := store.Camera{ID: store.NewID(), SiteID: site.ID, Name: "Demo channel 1", URL: rtspURL,
			Role: "channel", Channel: 1, Transport: "tcp", Record: "events", Enabled: true, CreatedAt: now, UpdatedAt: now}
		log.Info("created demo camera", "camera", cam.ID, "url", rtspURL)
		return store.Insert(ctx, q, &cam)
	})
}
