package objstore

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// redacted replaces the secret in URLs shown to people.
const redacted = "xxxxx"

// Redact returns rawURL with the password part of its user info (the S3
// secret key) replaced by "xxxxx", for logs and errors. It works on the raw
// text, so it also hides the secret of a URL that does not parse.
func Redact(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		scheme, rest = "", rawURL
	}
	// The user info ends at the last "@": a secret may hold characters
	// (even an unescaped "@" or "/") that a parser would split elsewhere.
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return rawURL
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		// no password: the user part alone may be a secret put in the wrong place
		user = redacted
	} else {
		user += ":" + redacted
	}
	out := user + rest[at:]
	if ok {
		out = scheme + "://" + out
	}
	return out
}

// storeLocation is a parsed store URL: a local directory or an S3 config.
type storeLocation struct {
	dir string
	s3  S3Config
}

// parseStoreURL parses a non-empty store URL. Its errors quote only the
// redacted URL: the parser's own messages may echo part of the secret.
func parseStoreURL(rawURL string) (storeLocation, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return storeLocation{}, fmt.Errorf("store URL %s does not parse (are the key and secret URL-escaped?)", Redact(rawURL))
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("store URL %s: %s", Redact(rawURL), fmt.Sprintf(format, args...))
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return storeLocation{}, bad("a file URL has no host: want file:///abs/path")
		}
		if u.User != nil || u.RawQuery != "" {
			return storeLocation{}, bad("a file URL takes no user or query")
		}
		p := filepath.FromSlash(u.Path)
		if !filepath.IsAbs(p) {
			return storeLocation{}, bad("want an absolute path: file:///abs/path")
		}
		return storeLocation{dir: filepath.Clean(p)}, nil
	case "s3", "s3+http":
		cfg := S3Config{Secure: u.Scheme == "s3"}
		if u.Host == "" {
			return storeLocation{}, bad("no host")
		}
		cfg.Endpoint = u.Host
		if u.User == nil {
			return storeLocation{}, bad("no credentials: want %s://KEY:SECRET@host/bucket", u.Scheme)
		}
		cfg.AccessKey = u.User.Username()
		cfg.SecretKey, _ = u.User.Password()
		if cfg.AccessKey == "" || cfg.SecretKey == "" {
			return storeLocation{}, bad("want both an access key and a secret key")
		}
		cfg.Bucket = strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/")
		if cfg.Bucket == "" || strings.Contains(cfg.Bucket, "/") {
			return storeLocation{}, bad("want exactly one path segment, the bucket")
		}
		for k, vs := range u.Query() {
			v := vs[len(vs)-1]
			switch k {
			case "region":
				cfg.Region = v
			case "checksum":
				switch v {
				case "on", "true", "1":
				case "off", "false", "0":
					cfg.DisableChecksum = true
				default:
					return storeLocation{}, bad("checksum=%q: want on or off", v)
				}
			case "lock":
				cfg.ObjectLock = v
			case "retain-days":
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return storeLocation{}, bad("retain-days=%q: want a number of days", v)
				}
				cfg.RetainDays = n
			case "sse":
				cfg.SSE = v
			default:
				return storeLocation{}, bad("unknown parameter %q (known: region, checksum, lock, retain-days, sse)", k)
			}
		}
		return storeLocation{s3: cfg}, nil
	case "":
		return storeLocation{}, errors.New("store URL has no scheme: want file://, s3:// or s3+http://")
	default:
		return storeLocation{}, bad("unknown scheme %q: want file, s3 or s3+http", u.Scheme)
	}
}
