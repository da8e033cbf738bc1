package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"oepc.dev/oepcos/packages/ota"
)

// The System page's OTA update: the owner uploads the box's disk image
// (POST /system/update: the raw file from ota.js, or a multipart form
// without JavaScript), which Config.OTA streams to gokrazy's update
// endpoints; GET /system/update/status is its progress. Both need an
// owner's session; the POST passes CrossOriginProtection like every
// change.

// maxOTAUpload bounds an upload: a whole image of make image is 2 GiB;
// an SD card's may be bigger, but only the first Layout.Needed bytes are
// used.
const maxOTAUpload = 64 << 30

const otaUnavailable = "An update from this page is only available on the box itself (gokrazy's update service is not here, e.g. in the devnet)."

func (u *UI) otaRoutes() {
	u.mux.HandleFunc("POST /system/update", u.postUpdate)
	u.mux.HandleFunc("GET /system/update/status", func(w http.ResponseWriter, r *http.Request) {
		if !u.otaOwner(w, r, true) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(u.cfg.OTA.Status())
	})
}

// otaOwner answers (and returns false) unless the request has an owner's
// session and the box can update.
func (u *UI) otaOwner(w http.ResponseWriter, r *http.Request, asJSON bool) bool {
	s, _ := u.session(r)
	fail := func(code int, msg string) bool {
		if asJSON {
			writeJSONError(w, code, msg)
		} else {
			u.renderMessage(w, r, code, "Update not started", msg)
		}
		return false
	}
	switch {
	case s == nil:
		return fail(http.StatusUnauthorized, "Signed out: sign in again as the box's owner.")
	case !s.Role.Allows(RoleOwner):
		return fail(http.StatusForbidden, "Only the box's owner can update it; you are signed in as a "+s.Role.String()+".")
	case u.cfg.OTA == nil:
		return fail(http.StatusNotImplemented, otaUnavailable)
	}
	return true
}

func (u *UI) postUpdate(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	asJSON := ct != "multipart/form-data"
	if !u.otaOwner(w, r, asJSON) {
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxOTAUpload)
	r.Body = body
	fail := func(code int, msg string) {
		// Read what the browser still sends: a browser that is cut off
		// mid-upload shows "connection reset", not the message.
		if body != nil {
			io.Copy(io.Discard, body)
		} else {
			w.Header().Set("Connection", "close")
		}
		if asJSON {
			writeJSONError(w, code, msg)
		} else {
			u.renderMessage(w, r, code, "Update failed", msg)
		}
	}
	if r.ContentLength > maxOTAUpload {
		body = nil // not read: the connection closes
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("This file is %.1f GiB; a disk image of OEPC OS is 2 GiB (build/oepc-amd64.img from make image). Nothing was changed.", float64(r.ContentLength)/(1<<30)))
		return
	}
	var img io.Reader = body
	size := r.ContentLength
	switch ct {
	case "application/octet-stream":
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			fail(http.StatusBadRequest, "The form could not be read: "+err.Error()+". Pick the image file and try again.")
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				fail(http.StatusBadRequest, "No image file in the form: pick build/oepc-amd64.img and try again.")
				return
			}
			if p.FormName() == "image" {
				if p.FileName() == "" {
					fail(http.StatusBadRequest, "No image file picked: pick build/oepc-amd64.img and try again.")
					return
				}
				img, size = p, -1
				break
			}
		}
	default:
		fail(http.StatusUnsupportedMediaType, "Send the image as application/octet-stream or as a form with the file in the field \"image\".")
		return
	}
	u.log.Warn("web UI: OTA update started", "client", clientAddr(r), "bytes", size)
	// The update outlives a cut connection only as long as the upload
	// goes on: Apply reads the image from the request.
	ctx, cancel := context.WithTimeout(r.Context(), 45*time.Minute)
	defer cancel()
	err := u.cfg.OTA.Apply(ctx, img, size)
	var ie *ota.ImageError
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
	case errors.Is(err, ota.ErrBusy):
		fail(http.StatusConflict, "Another update is running: wait for it to finish.")
		return
	case errors.As(err, &mbe):
		fail(http.StatusRequestEntityTooLarge, "This file is over 64 GiB: it is not a disk image of OEPC OS. Nothing was changed.")
		return
	case errors.As(err, &ie):
		fail(http.StatusUnprocessableEntity, ie.Msg+". Nothing was changed.")
		return
	default:
		fail(http.StatusBadGateway, "The update failed: "+err.Error()+". The box still runs its current version; try again, or use make update from a computer.")
		return
	}
	st := u.cfg.OTA.Status()
	msg := "The update is written. The box is rebooting into the new version; this page comes back in about a minute."
	if st.State == "done" {
		msg = "The update is written; the box runs the new version after its next reboot."
	}
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			ota.Progress
			Message string `json:"message"`
		}{st, msg})
		return
	}
	u.renderMessage(w, r, http.StatusOK, "Update written", msg)
}

// otaView is what the System page shows of updates.
type otaView struct {
	Available bool
	Why       string
	Arch      string
	// Needed is how much of the image file ota.js sends (the rest is root
	// B and /perm, which an update does not use).
	Needed int64
	Status ota.Progress
}

func (u *UI) otaView() otaView {
	if u.cfg.OTA == nil {
		return otaView{Why: otaUnavailable}
	}
	st := u.cfg.OTA.Status()
	return otaView{Available: true, Arch: u.cfg.OTA.Arch(), Needed: u.cfg.OTA.Layout().Needed(), Status: st}
}
