// The actions that carry out a decision on a trapped call. Each one responds to the notification,
// or hands the call to a worker that responds when a blocking connect completes.
#pragma once

#include "core/call.hpp"

namespace sockgate {

// Answers with success (error 0) or an error number. Routine when the target is gone.
void send_response(Call& call, int error);

// Performs the call on the target's own socket with the copied address, as the kernel would
// have. Used for pass, for sockets already connected or bound, and for invalid addresses, whose
// errors the kernel then reports.
void perform_on_socket(Call& call);

// Connects a new host socket to `destination`, carrying the container socket's state over, and
// installs it over the target's descriptor.
void bypass_connect(Call& call, const SocketAddress& destination);

// Binds a new host socket to `host_address` and installs it, so listen() and accept() work on
// the host.
void bypass_bind(Call& call, const SocketAddress& host_address);

// Passes a call whose socket is a host socket switched earlier: a new socket is made in the
// container's namespace, with the same state, the call is performed on it, and it is installed.
void pass_on_new_container_socket(Call& call);

}  // namespace sockgate
