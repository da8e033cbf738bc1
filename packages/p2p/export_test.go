package p2p

// DialRanker exposes the dial ranker to the tests.
var DialRanker = dialRanker
