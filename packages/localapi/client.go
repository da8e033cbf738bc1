package localapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"oepc.dev/oepcos/packages/apitype"
)

// The typed calls of the local API, one per route. Each returns the
// route's answer type from packages/apitype, or an *APIError for a non-2xx
// answer.

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (*apitype.Status, error) {
	var v apitype.Status
	return &v, c.Do(ctx, "GET", "/v1/status", nil, &v)
}

// Health is GET /v1/health.
func (c *Client) Health(ctx context.Context) (*apitype.HealthAnswer, error) {
	var v apitype.HealthAnswer
	return &v, c.Do(ctx, "GET", "/v1/health", nil, &v)
}

// Invite is POST /v1/friends/invite; ttl "" is the box's default.
func (c *Client) Invite(ctx context.Context, ttl string) (*apitype.Invite, error) {
	var v apitype.Invite
	return &v, c.Do(ctx, "POST", "/v1/friends/invite", apitype.InviteRequest{TTL: ttl}, &v)
}

// Accept is POST /v1/friends/accept with a short code or an oe://friend URI.
func (c *Client) Accept(ctx context.Context, invite string) (*apitype.Friend, error) {
	var v apitype.Friend
	return &v, c.Do(ctx, "POST", "/v1/friends/accept", apitype.AcceptRequest{Invite: invite}, &v)
}

// Friends is GET /v1/friends.
func (c *Client) Friends(ctx context.Context) ([]apitype.FriendStatus, error) {
	var v []apitype.FriendStatus
	return v, c.Do(ctx, "GET", "/v1/friends", nil, &v)
}

// UpdateFriend is PATCH /v1/friends/{friend} (friend: name or peer ID).
func (c *Client) UpdateFriend(ctx context.Context, friend string, u apitype.FriendUpdate) (*apitype.Friend, error) {
	var v apitype.Friend
	return &v, c.Do(ctx, "PATCH", "/v1/friends/"+url.PathEscape(friend), u, &v)
}

// RemoveFriend is DELETE /v1/friends/{friend}.
func (c *Client) RemoveFriend(ctx context.Context, friend string) error {
	return c.Do(ctx, "DELETE", "/v1/friends/"+url.PathEscape(friend), nil, nil)
}

// FindPeer is GET /v1/peers/{id}.
func (c *Client) FindPeer(ctx context.Context, id string) (*apitype.PeerAnswer, error) {
	var v apitype.PeerAnswer
	return &v, c.Do(ctx, "GET", "/v1/peers/"+url.PathEscape(id), nil, &v)
}

// PutOptions tune one CloudPut.
type PutOptions struct {
	K, M  int // both or neither; 0: the box's default
	Force bool
	// Transfer, if set, names the put so its progress can be watched
	// (Transfer, TransferEvents); NewTransferID makes one.
	Transfer string
}

// NewTransferID returns a fresh random transfer ID.
func NewTransferID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CloudPut is POST /v1/cloud/put: body (size bytes, -1 if not known)
// becomes the file at remote.
func (c *Client) CloudPut(ctx context.Context, remote string, body io.Reader, size int64, o PutOptions) (*apitype.Entry, error) {
	q := url.Values{"path": {remote}}
	if o.K > 0 || o.M > 0 {
		q.Set("k", strconv.Itoa(o.K))
		q.Set("m", strconv.Itoa(o.M))
	}
	if o.Force {
		q.Set("force", "1")
	}
	if o.Transfer != "" {
		q.Set("transfer", o.Transfer)
	}
	var v apitype.Entry
	return &v, c.sendJSON(ctx, "/v1/cloud/put?"+q.Encode(), body, size, &v)
}

// SendFile is POST /v1/send: body goes straight to friend's Received folder
// as name. transfer, if not "", names it for progress.
func (c *Client) SendFile(ctx context.Context, friend, name string, body io.Reader, size int64, transfer string) (*apitype.SendAnswer, error) {
	q := url.Values{"friend": {friend}, "name": {name}}
	if transfer != "" {
		q.Set("transfer", transfer)
	}
	var v apitype.SendAnswer
	return &v, c.sendJSON(ctx, "/v1/send?"+q.Encode(), body, size, &v)
}

func (c *Client) sendJSON(ctx context.Context, path string, body io.Reader, size int64, out any) error {
	resp, err := c.SendSized(ctx, "POST", path, "application/octet-stream", body, size)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bad answer from box: %w", err)
	}
	return nil
}

// CloudGet is GET /v1/cloud/get?ref=REF (a path, file ID or share
// address): the caller reads and closes the body; its ContentLength is the
// file's size when the box knows it.
func (c *Client) CloudGet(ctx context.Context, ref string) (*http.Response, error) {
	return c.Send(ctx, "GET", "/v1/cloud/get?ref="+url.QueryEscape(ref), "", nil)
}

// List is GET /v1/cloud/ls: the folder dir's items from offset, at most
// limit of them (limit 0: all).
func (c *Client) List(ctx context.Context, dir string, offset, limit int) (*apitype.Listing, error) {
	q := url.Values{"dir": {dir}}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var v apitype.Listing
	return &v, c.Do(ctx, "GET", "/v1/cloud/ls?"+q.Encode(), nil, &v)
}

// Stat is GET /v1/cloud/stat.
func (c *Client) Stat(ctx context.Context, path string) (*apitype.Entry, error) {
	var v apitype.Entry
	return &v, c.Do(ctx, "GET", "/v1/cloud/stat?path="+url.QueryEscape(path), nil, &v)
}

// Mkdir is POST /v1/cloud/mkdir.
func (c *Client) Mkdir(ctx context.Context, path string) error {
	return c.Do(ctx, "POST", "/v1/cloud/mkdir", apitype.MkdirRequest{Path: path}, nil)
}

// Move is POST /v1/cloud/mv; it returns the final path.
func (c *Client) Move(ctx context.Context, from, to string) (string, error) {
	var v apitype.PathAnswer
	err := c.Do(ctx, "POST", "/v1/cloud/mv", apitype.MoveRequest{From: from, To: to}, &v)
	return v.Path, err
}

// Remove is POST /v1/cloud/rm; it returns how many files went.
func (c *Client) Remove(ctx context.Context, path string, recursive bool) (int, error) {
	var v apitype.RemoveAnswer
	err := c.Do(ctx, "POST", "/v1/cloud/rm", apitype.RemoveRequest{Path: path, Recursive: recursive}, &v)
	return v.RemovedFiles, err
}

// FileHealth is GET /v1/cloud/health?ref=REF[&deep=1]: the file's shard map.
func (c *Client) FileHealth(ctx context.Context, ref string, deep bool) (*apitype.Health, error) {
	q := "/v1/cloud/health?ref=" + url.QueryEscape(ref)
	if deep {
		q += "&deep=1"
	}
	var v apitype.Health
	return &v, c.Do(ctx, "GET", q, nil, &v)
}

// Repair is POST /v1/cloud/repair (path "": every file).
func (c *Client) Repair(ctx context.Context, path string) (*apitype.RepairReport, error) {
	var v apitype.RepairReport
	return &v, c.Do(ctx, "POST", "/v1/cloud/repair", apitype.RepairRequest{Path: path}, &v)
}

// Share is POST /v1/cloud/share.
func (c *Client) Share(ctx context.Context, path, friend string) (*apitype.ShareAnswer, error) {
	var v apitype.ShareAnswer
	return &v, c.Do(ctx, "POST", "/v1/cloud/share", apitype.ShareRequest{Path: path, Friend: friend}, &v)
}

// Hosted is GET /v1/cloud/hosted.
func (c *Client) Hosted(ctx context.Context) (*apitype.Hosted, error) {
	var v apitype.Hosted
	return &v, c.Do(ctx, "GET", "/v1/cloud/hosted", nil, &v)
}

// CloudStatus is GET /v1/cloud/status.
func (c *Client) CloudStatus(ctx context.Context) (*apitype.CloudStatus, error) {
	var v apitype.CloudStatus
	return &v, c.Do(ctx, "GET", "/v1/cloud/status", nil, &v)
}

// Setup is POST /v1/cloud/setup.
func (c *Client) Setup(ctx context.Context) (*apitype.SetupAnswer, error) {
	var v apitype.SetupAnswer
	return &v, c.Do(ctx, "POST", "/v1/cloud/setup", struct{}{}, &v)
}

// Recover is POST /v1/cloud/recover; it returns how many files came back.
func (c *Client) Recover(ctx context.Context, phrase string) (int, error) {
	var v apitype.RecoverAnswer
	err := c.Do(ctx, "POST", "/v1/cloud/recover", apitype.RecoverRequest{Phrase: phrase}, &v)
	return v.Files, err
}

// Backup is POST /v1/cloud/backup; it returns how many friends keep the
// root record.
func (c *Client) Backup(ctx context.Context) (int, error) {
	var v apitype.BackupAnswer
	err := c.Do(ctx, "POST", "/v1/cloud/backup", struct{}{}, &v)
	return v.Friends, err
}

// Received is GET /v1/cloud/received.
func (c *Client) Received(ctx context.Context) (*apitype.Received, error) {
	var v apitype.Received
	return &v, c.Do(ctx, "GET", "/v1/cloud/received", nil, &v)
}

// SetReceivedQuota is POST /v1/cloud/received/quota.
func (c *Client) SetReceivedQuota(ctx context.Context, req apitype.QuotaRequest) (*apitype.QuotaAnswer, error) {
	var v apitype.QuotaAnswer
	return &v, c.Do(ctx, "POST", "/v1/cloud/received/quota", req, &v)
}

// Transfer is GET /v1/cloud/transfers/{id}.
func (c *Client) Transfer(ctx context.Context, id string) (*apitype.Transfer, error) {
	var v apitype.Transfer
	return &v, c.Do(ctx, "GET", "/v1/cloud/transfers/"+url.PathEscape(id), nil, &v)
}

// Transfers is GET /v1/cloud/transfers: those under way and the recently
// ended.
func (c *Client) Transfers(ctx context.Context) ([]apitype.Transfer, error) {
	var v apitype.Transfers
	err := c.Do(ctx, "GET", "/v1/cloud/transfers", nil, &v)
	return v.Transfers, err
}

// TransferEvents follows GET /v1/cloud/transfers/events (server-sent
// events) and calls fn with every transfer event until ctx ends, the box
// closes the stream, or fn returns an error (which it returns).
func (c *Client) TransferEvents(ctx context.Context, fn func(apitype.Transfer) error) error {
	resp, err := c.Send(ctx, "GET", "/v1/cloud/transfers/events", "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return ReadEvents(resp.Body, func(typ string, data []byte) error {
		if typ != apitype.TransferEvent {
			return nil
		}
		var t apitype.Transfer
		if err := json.Unmarshal(data, &t); err != nil {
			return fmt.Errorf("bad transfer event from box: %w", err)
		}
		return fn(t)
	})
}

// maxEvent bounds one server-sent event's data.
const maxEvent = 1 << 20

// ReadEvents parses a text/event-stream and calls fn with each event's
// type ("message" when the stream names none) and data, until the stream
// ends (nil) or fn returns an error.
func ReadEvents(r io.Reader, fn func(typ string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxEvent)
	typ, data := "", []byte(nil)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				if typ == "" {
					typ = "message"
				}
				if err := fn(typ, data); err != nil {
					return err
				}
			}
			typ, data = "", nil
		case strings.HasPrefix(line, ":"): // a comment (keep-alive)
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "event":
				typ = v
			case "data":
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, v...)
				if len(data) > maxEvent {
					return fmt.Errorf("server-sent event over %d bytes", maxEvent)
				}
			}
		}
	}
	return sc.Err()
}
