#include "daemon/server/request_sender.h"

#include <unistd.h>

namespace dbx {

std::shared_ptr<const int> own_fd(int fd) {
  return {new int(fd), [](const int* p) {
            ::close(*p);
            delete p;
          }};
}

}  // namespace dbx
