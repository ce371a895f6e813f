#include "uring.hpp"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace attacker {
namespace {

// IORING_OP_BIND from Linux 6.11's <linux/io_uring.h>; Debian 12's headers predate it.
constexpr std::uint8_t kOpBind = 56;

// One submission and one completion on a fresh ring of four entries.
int run_one(const io_uring_sqe& request) {
  io_uring_params params{};
  int ring = static_cast<int>(syscall(SYS_io_uring_setup, 4, &params));
  if (ring < 0) {
    return -errno;
  }
  std::size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  std::size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
  std::size_t sqe_size = params.sq_entries * sizeof(io_uring_sqe);
  auto* sq = static_cast<char*>(mmap(nullptr, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                                     ring, IORING_OFF_SQ_RING));
  auto* cq = static_cast<char*>(mmap(nullptr, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                                     ring, IORING_OFF_CQ_RING));
  auto* sqes = static_cast<io_uring_sqe*>(mmap(nullptr, sqe_size, PROT_READ | PROT_WRITE,
                                               MAP_SHARED, ring, IORING_OFF_SQES));
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
    close(ring);
    return -ENOMEM;
  }
  auto* tail = reinterpret_cast<unsigned*>(sq + params.sq_off.tail);
  auto* mask = reinterpret_cast<unsigned*>(sq + params.sq_off.ring_mask);
  auto* array = reinterpret_cast<unsigned*>(sq + params.sq_off.array);
  unsigned index = *tail & *mask;
  sqes[index] = request;
  array[index] = index;
  __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);

  int result = -EIO;
  if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, nullptr, 0) < 0) {
    result = -errno;
  } else {
    auto* head = reinterpret_cast<unsigned*>(cq + params.cq_off.head);
    auto* cq_mask = reinterpret_cast<unsigned*>(cq + params.cq_off.ring_mask);
    auto* cqes = reinterpret_cast<io_uring_cqe*>(cq + params.cq_off.cqes);
    result = cqes[*head & *cq_mask].res;
    __atomic_store_n(head, *head + 1, __ATOMIC_RELEASE);
  }
  munmap(sq, sq_size);
  munmap(cq, cq_size);
  munmap(sqes, sqe_size);
  close(ring);
  return result;
}

io_uring_sqe address_request(std::uint8_t opcode, int fd, const sockaddr* address,
                             socklen_t length) {
  io_uring_sqe request{};
  request.opcode = opcode;
  request.fd = fd;
  request.addr = reinterpret_cast<std::uint64_t>(address);
  request.addr2 = length;
  return request;
}

}  // namespace

int uring_connect(int fd, const sockaddr* address, socklen_t length) {
  return run_one(address_request(IORING_OP_CONNECT, fd, address, length));
}

int uring_bind(int fd, const sockaddr* address, socklen_t length) {
  return run_one(address_request(kOpBind, fd, address, length));
}

}  // namespace attacker
