package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"

	"github.com/attendant/attendant/store"
)

// demoSiteCode marks the demo site, so a restart finds it again.
const demoSiteCode = "DEMO-A1004"

// demoRobotUser is the SIP user of the demo robot.
const demoRobotUser = "demo-robot"

// seedDemo makes sure a demo store box with one camera on the built-in
// demo RTSP server exists, pointing at the demo server's current URL, and
// a demo robot device; it returns the robot's SIP password.
func seedDemo(ctx context.Context, db *store.DB, rtspURL string, log *slog.Logger) (robotPassword string, err error) {
	err = db.InTx(ctx, func(q store.Q) error {
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
		if robotPassword, err = seedDemoRobot(ctx, q, site.ID, log); err != nil {
			return err
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
	return robotPassword, err
}

// seedDemoRobot makes sure the demo robot device exists and returns its
// SIP password (random, made once).
func seedDemoRobot(ctx context.Context, q store.Q, siteID string, log *slog.Logger) (string, error) {
	devs, _, err := store.List[store.Device](ctx, q, store.Filter{Eq: map[string]string{"sip_username": demoRobotUser}, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(devs) == 1 {
		return devs[0].SIPPassword, nil
	}
	now := store.Now()
	d := store.Device{ID: store.NewID(), SiteID: siteID, Name: "Demo robot", Kind: "robot", SIPUsername: demoRobotUser,
		SIPPassword: rand.Text(), Enabled: true, CreatedAt: now, UpdatedAt: now}
	if err := store.Insert(ctx, q, &d); err != nil {
		return "", err
	}
	log.Info("created demo robot", "device", d.ID, "sip_username", demoRobotUser)
	return d.SIPPassword, nil
}

// loopbackAddr is addr with an unspecified IP (":5060") made 127.0.0.1,
// for the demo robot on this machine.
func loopbackAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
