package sip

import (
	"context"
	"log/slog"
)

// libHandler passes sipgo's log records on at Debug level, with raw message
// bytes replaced by their length. sipgo logs every unparsable packet at
// Error with the packet attached: anyone could flood our log that way, and a
// truncated REGISTER would put its Authorization header into it.
type libHandler struct{ h slog.Handler }

func newLibLogger(log *slog.Logger) *slog.Logger {
	return slog.New(libHandler{log.Handler()}).With("lib", "sipgo")
}

func (l libHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return l.h.Enabled(ctx, slog.LevelDebug)
}

func (l libHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return l.h.Handle(ctx, out)
}

func (l libHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return libHandler{l.h.WithAttrs(red)}
}

func (l libHandler) WithGroup(name string) slog.Handler {
	return libHandler{l.h.WithGroup(name)}
}

// redactAttr keeps everything but whole SIP messages.
func redactAttr(a slog.Attr) slog.Attr {
	switch a.Key {
	case "data", "sipmsg", "message":
		return slog.Int(a.Key+"_bytes", len(a.Value.String()))
	}
	return a
}
