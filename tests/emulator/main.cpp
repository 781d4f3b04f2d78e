// dbxcred-emulator: command line, state directory, emulator.json and the "ready" line.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <boost/json.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "common/log.h"
#include "tests/emulator/server.h"

namespace {

constexpr const char* kUsage = R"(usage: dbxcred-emulator --state-dir DIR [options]

Offline HTTPS stand-in for Entra ID, IMDS, Azure Resource Manager and the Databricks REST API.

  --state-dir DIR   where ca.pem, ca.key and emulator.json live (created if missing)
  --port N          TCP port on 127.0.0.1 (default 0: an ephemeral port)
  --ca-cert FILE    use this CA certificate (PEM) instead of DIR/ca.pem
  --ca-key FILE     … and its private key (both or neither)
  --san NAME        extra subject alternative name for the server certificate (repeatable)
  --log-level L     trace|debug|info|warn|error (default info)
  --help            this text

Prints "ready https://127.0.0.1:N" once listening and writes DIR/emulator.json.
The control API is described in tests/emulator/README.md.
)";

void write_ready_file(const std::filesystem::path& dir, unsigned short port,
                      const std::string& ca_file) {
  std::string url = "https://127.0.0.1:" + std::to_string(port);
  std::string json = boost::json::serialize(
      boost::json::object{{"port", port}, {"ca_file", ca_file}, {"url", url}});
  std::filesystem::path tmp = dir / "emulator.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json << '\n';
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, dir / "emulator.json");
  std::cout << "ready " << url << std::endl;  // endl flushes: the tests wait for this line
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::filesystem::path> state_dir, ca_cert, ca_key;
  std::vector<std::string> sans;
  std::string log_level = "info";
  long port = 0;
  auto usage_error = [](const std::string& msg) {
    std::cerr << "dbxcred-emulator: " << msg << "\n(see --help)\n";
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) return usage_error("unknown option or missing value: " + arg);
    std::string value = argv[++i];
    if (arg == "--state-dir") {
      state_dir = value;
    } else if (arg == "--port") {
      char* end = nullptr;
      port = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || port < 0 || port > 65535)
        return usage_error("--port: not a port: " + value);
    } else if (arg == "--ca-cert") {
      ca_cert = value;
    } else if (arg == "--ca-key") {
      ca_key = value;
    } else if (arg == "--san") {
      sans.push_back(value);
    } else if (arg == "--log-level") {
      log_level = value;
    } else {
      return usage_error("unknown option: " + arg);
    }
  }
  if (!state_dir) return usage_error("--state-dir is required");

  try {
    dbx::setup_logging(log_level, "text");
    std::filesystem::create_directories(*state_dir);
    emu::ServerOptions options;
    options.port = static_cast<unsigned short>(port);
    options.tls = emu::prepare_tls(*state_dir, ca_cert, ca_key, sans);
    emu::Emulator emulator;
    return emu::run_server(options, emulator, [&](unsigned short p) {
      write_ready_file(*state_dir, p, options.tls.ca_file);
      spdlog::info("listening on https://127.0.0.1:{} (CA {})", p, options.tls.ca_file);
    });
  } catch (const std::exception& e) {
    std::cerr << "dbxcred-emulator: " << e.what() << "\n";
    return 1;
  }
}
