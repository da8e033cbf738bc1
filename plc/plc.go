// Package plc is what homed needs of a power-line carrier modem, whatever
// its protocol: switch a device, dim it, ask its state, and hear what the
// devices on the line report by themselves. The drivers (plc/insteon,
// plc/x10) implement Modem over an io.ReadWriteCloser, so a real serial port
// and a simulated modem on a pseudo-terminal are driven the same way.
package plc

import (
	"context"
	"errors"
	"time"
)

// Protocol names a modem family as it appears in configs and on the CLI.
type Protocol string

const (
	Insteon Protocol = "insteon"
	X10     Protocol = "x10"
)

// Address is a device address in its protocol's usual spelling: "1A.2B.3C"
// for Insteon, "A1" for X10. Each driver parses and validates its own.
type Address string

// Level is a device's brightness, 0 (off) to 255 (fully on). X10's 22 dim
// steps and Insteon's 0-255 both map onto it; a driver rounds to the
// nearest level its protocol can express.
type Level uint8

// EventKind says what a device reported.
type EventKind string

const (
	// EventState: the device's level changed (a switch pressed by hand,
	// a scene fired, or the answer to a command).
	EventState EventKind = "state"
	// EventButton: a keypad button or a controller sent a group command.
	EventButton EventKind = "button"
)

// Event is one thing a device said, after duplicates that arrive over
// several hops have been merged into one.
type Event struct {
	Time    time.Time
	Address Address
	Kind    EventKind
	Level   Level  // EventState: the new level
	Group   int    // EventButton: the group or button number
	Command string // the protocol's own name of the command, for logs
}

// Modem is one power-line modem on one serial line. Every method honours
// ctx's deadline and returns ErrNoAnswer when the device did not answer,
// so a caller can show "the device did not answer" rather than hang.
type Modem interface {
	On(ctx context.Context, a Address) error
	Off(ctx context.Context, a Address) error
	Dim(ctx context.Context, a Address, l Level) error
	// Status asks the device for its level.
	Status(ctx context.Context, a Address) (Level, error)
	// Events delivers device events until Close. The channel is bounded;
	// when the reader falls behind, the oldest events are dropped and logged.
	Events() <-chan Event
	Close() error
}

var (
	// ErrNoAnswer: the modem or the device did not answer in time.
	ErrNoAnswer = errors.New("plc: no answer")
	// ErrNAK: the device answered but refused the command.
	ErrNAK = errors.New("plc: device refused the command (NAK)")
	// ErrBadAddress: the address is not valid for the protocol.
	ErrBadAddress = errors.New("plc: bad address")
)
