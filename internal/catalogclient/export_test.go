package catalogclient

// ListenAs is listenAs for the package's outside tests.
var ListenAs = listenAs
