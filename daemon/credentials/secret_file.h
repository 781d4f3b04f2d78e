// Reading secrets from files and wiping them from memory after use.
#pragma once

#include <string>

#include "common/result.h"

namespace dbx {

// Reads a secret file, trimming trailing newlines; errors name the path, never the content.
Result<std::string> read_secret_file(const std::string& path);

// Overwrites a string's bytes before it is freed (best effort: copies made by libraries remain).
void wipe(std::string& s);

}  // namespace dbx
