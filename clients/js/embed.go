// Package jsclient holds streamhub.js, the browser client, for the server
// to serve (internal/server/jsclient.go). The JavaScript is the source;
// this file only embeds it.
package jsclient

import _ "embed"

// Module is streamhub.js, the ES module.
//
//go:embed streamhub.js
var Module []byte

// Classic is streamhub.umd.js, the classic-script build (globalThis.StreamHub),
// generated from streamhub.js by build.js.
//
//go:embed streamhub.umd.js
var Classic []byte

// Types is streamhub.d.ts, the TypeScript declarations.
//
//go:embed streamhub.d.ts
var Types []byte

// Peer is peer.js, WebRTC rooms browser to browser (StreamHub.peer loads
// it from beside streamhub.js).
//
//go:embed peer.js
var Peer []byte
