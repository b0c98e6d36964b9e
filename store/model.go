package store

import "time"

// Site kinds.
const (
	SiteBox     = "box"
	SiteParking = "parking"
	SiteWeb     = "web"
)

// Site is a place attendant watches over: a store box, a parking lot or a
// website.
type Site struct {
	ID               string    `db:"id" json:"id"`
	Name             string    `db:"name" json:"name"`
	Kind             string    `db:"kind" json:"kind" enum:"box,parking,web"`
	Code             string    `db:"code" json:"code" doc:"Operator's code for the site, e.g. A1004"`
	Province         string    `db:"province" json:"province"`
	City             string    `db:"city" json:"city"`
	District         string    `db:"district" json:"district"`
	Compound         string    `db:"compound" json:"compound"`
	Address          string    `db:"address" json:"address"`
	Latitude         *float64  `db:"latitude" json:"latitude"`
	Longitude        *float64  `db:"longitude" json:"longitude"`
	Tariff           string    `db:"tariff" json:"tariff" doc:"Tariff in words, shown to agents"`
	EmergencyContact string    `db:"emergency_contact" json:"emergency_contact"`
	Notes            string    `db:"notes" json:"notes"`
	CreatedAt        time.Time `db:"created_at" json:"created_at"`
	UpdatedAt        time.Time `db:"updated_at" json:"updated_at"`
}

// AccessPoint is a way in or out of a site: a box door, a parking entrance
// or exit lane.
type AccessPoint struct {
	ID        string    `db:"id" json:"id"`
	SiteID    string    `db:"site_id" json:"site_id"`
	Name      string    `db:"name" json:"name"`
	Kind      string    `db:"kind" json:"kind" enum:"door,entrance,exit"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
}

// Device is a robot or intercom that dials in over SIP.
type Device struct {
	ID             string     `db:"id" json:"id"`
	SiteID         string     `db:"site_id" json:"site_id"`
	AccessPointID  OptionalID `db:"access_point_id" json:"access_point_id"`
	Name           string     `db:"name" json:"name"`
	Kind           string     `db:"kind" json:"kind" enum:"robot,intercom"`
	FactoryCode    string     `db:"factory_code" json:"factory_code"`
	Phone          string     `db:"phone" json:"phone"`
	SIPUsername    string     `db:"sip_username" json:"sip_username"`
	SIPPassword    string     `db:"sip_password" json:"-"`
	HasSIPPassword bool       `db:"-" json:"has_sip_password" readOnly:"true"`
	Enabled        bool       `db:"enabled" json:"enabled"`
	CreatedAt      time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time  `db:"updated_at" json:"updated_at"`
}

// Camera is an RTSP source at a site.
type Camera struct {
	ID            string     `db:"id" json:"id"`
	SiteID        string     `db:"site_id" json:"site_id"`
	AccessPointID OptionalID `db:"access_point_id" json:"access_point_id"`
	DeviceID      OptionalID `db:"device_id" json:"device_id"`
	Name          string     `db:"name" json:"name"`
	URL           string     `db:"url" json:"url" doc:"RTSP URL without credentials"`
	SubstreamURL  string     `db:"substream_url" json:"substream_url" doc:"Optional H264 sub-stream for browsers that cannot play the main stream"`
	Username      string     `db:"username" json:"username"`
	Password      string     `db:"password" json:"-"`
	HasPassword   bool       `db:"-" json:"has_password" readOnly:"true"`
	Role          string     `db:"role" json:"role" enum:"environment,gate,id_document,channel"`
	Channel       int        `db:"channel" json:"channel" doc:"Box channel number for role channel"`
	Transport     string     `db:"transport" json:"transport" enum:"tcp,udp,auto"`
	Record        string     `db:"record" json:"record" enum:"off,events,continuous"`
	Enabled       bool       `db:"enabled" json:"enabled"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt     time.Time  `db:"updated_at" json:"updated_at"`
}

// User roles, from least to most trusted for changes; reviewer is apart:
// it reads everything and changes nothing but dispositions.
const (
	RoleAgent      = "agent"
	RoleSupervisor = "supervisor"
	RoleReviewer   = "reviewer"
	RoleAdmin      = "admin"
)

// User is a person who logs in.
type User struct {
	ID           string     `db:"id" json:"id"`
	Username     string     `db:"username" json:"username"`
	DisplayName  string     `db:"display_name" json:"display_name"`
	PasswordHash string     `db:"password_hash" json:"-"`
	Role         string     `db:"role" json:"role" enum:"agent,supervisor,reviewer,admin"`
	Seat         string     `db:"seat" json:"seat" doc:"Seat number calls are pushed to"`
	Email        string     `db:"email" json:"email"`
	Phone        string     `db:"phone" json:"phone"`
	Groups       StringList `db:"groups_json" json:"groups"`
	SiteIDs      StringList `db:"site_ids_json" json:"site_ids" doc:"Sites an agent or supervisor works for"`
	Disabled     bool       `db:"disabled" json:"disabled"`
	CreatedAt    time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt    time.Time  `db:"updated_at" json:"updated_at"`
}

// Token kinds.
const (
	TokenSession = "session"
	TokenAPI     = "api"
)

// Token is a browser session or an API token; only its secret's hash is
// stored.
type Token struct {
	ID         string     `db:"id" json:"id"`
	SecretHash string     `db:"secret_hash" json:"-"`
	UserID     string     `db:"user_id" json:"user_id"`
	Kind       string     `db:"kind" json:"kind" enum:"session,api"`
	Name       string     `db:"name" json:"name"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	ExpiresAt  *time.Time `db:"expires_at" json:"expires_at"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at"`
}

// Case kinds and statuses.
const (
	CaseCall   = "call"
	CaseEvent  = "event"
	CaseChat   = "chat"
	CaseVideo  = "video"
	CaseManual = "manual"

	CasePending    = "pending"
	CaseInProgress = "in_progress"
	CaseClosed     = "closed"
)

// Case is the unit of work: a robot call, a box event, a chat, a video
// session or a manual entry.
type Case struct {
	ID            string     `db:"id" json:"id"`
	SiteID        string     `db:"site_id" json:"site_id"`
	Kind          string     `db:"kind" json:"kind" enum:"call,event,chat,video,manual"`
	Status        string     `db:"status" json:"status" enum:"pending,in_progress,closed"`
	Disposition   string     `db:"disposition" json:"disposition" enum:",normal,abnormal"`
	AbnormalType  string     `db:"abnormal_type" json:"abnormal_type"`
	Remark        string     `db:"remark" json:"remark"`
	Attribute     string     `db:"attribute" json:"attribute"`
	EventKind     string     `db:"event_kind" json:"event_kind" doc:"For event cases: door-open, payment, customer-entered, …"`
	Plate         string     `db:"plate" json:"plate" doc:"Vehicle plate the agent entered, normalised (upper case, no separators); empty if none"`
	HandlerID     OptionalID `db:"handler_id" json:"handler_id"`
	DeviceID      OptionalID `db:"device_id" json:"device_id"`
	AccessPointID OptionalID `db:"access_point_id" json:"access_point_id"`
	StartedAt     time.Time  `db:"started_at" json:"started_at"`
	EndedAt       *time.Time `db:"ended_at" json:"ended_at"`
	ClosedAt      *time.Time `db:"closed_at" json:"closed_at"`
	DisposedAt    *time.Time `db:"disposed_at" json:"disposed_at" doc:"When the disposition was last set, by handler_id"`
	LegalHold     bool       `db:"legal_hold" json:"legal_hold" doc:"Held for an investigation: retention does not delete its evidence"`
	EvidenceCount int        `db:"evidence_count" json:"evidence_count" readOnly:"true"`
	EvidenceHead  string     `db:"evidence_head" json:"evidence_head" readOnly:"true" doc:"Hash of the last link of the case's evidence chain"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt     time.Time  `db:"updated_at" json:"updated_at"`
}

// Evidence is one stored object (clip, call audio, snapshot, transcript)
// that belongs to a case.
type Evidence struct {
	ID        string     `db:"id" json:"id"`
	CaseID    string     `db:"case_id" json:"case_id"`
	Key       string     `db:"object_key" json:"key"`
	Kind      string     `db:"kind" json:"kind"`
	MediaType string     `db:"media_type" json:"media_type"`
	CameraID  OptionalID `db:"camera_id" json:"camera_id"`
	DeviceID  OptionalID `db:"device_id" json:"device_id"`
	TakenBy   OptionalID `db:"taken_by" json:"taken_by"`
	Start     time.Time  `db:"start_at" json:"start"`
	End       time.Time  `db:"end_at" json:"end"`
	Size      int64      `db:"size" json:"size"`
	SHA256    string     `db:"sha256" json:"sha256"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	// Seq, PrevHash and ChainHash place the row in its case's evidence
	// chain (AppendEvidence sets them).
	Seq       int        `db:"seq" json:"seq"`
	PrevHash  string     `db:"prev_hash" json:"prev_hash"`
	ChainHash string     `db:"chain_hash" json:"chain_hash"`
	PurgedAt  *time.Time `db:"purged_at" json:"purged_at" doc:"Set when retention deleted the object; the row stays in the chain"`
}

// Recording is one uploaded segment of a camera's continuous recording.
type Recording struct {
	ID        string    `db:"id" json:"id"`
	CameraID  string    `db:"camera_id" json:"camera_id"`
	SiteID    string    `db:"site_id" json:"site_id"`
	Start     time.Time `db:"start_at" json:"start"`
	End       time.Time `db:"end_at" json:"end"`
	Key       string    `db:"object_key" json:"key"`
	MediaType string    `db:"media_type" json:"media_type"`
	Size      int64     `db:"size" json:"size"`
	SHA256    string    `db:"sha256" json:"sha256"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}
