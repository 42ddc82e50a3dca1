"""`make fuzz`: Schemathesis against a real `flashsale serve` (embedded defaults, a fresh directory),
every check on, bounded examples, once without a token and once with an operator's token.

Exit status 0 only when both runs find no failure. The operator run leaves out the two calls that
end its own token (sign-out-everywhere, password change) and the role change (it could demote the
operator itself): every later case would then be a 401. The anonymous run covers them.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from core.net import free_port

BIN = Path(sys.executable).parent
CONFIG = Path(__file__).resolve().parent.parent / "schemathesis.toml"
PASSWORD = "Fuzz-operator-1"  # noqa: S105 - a throwaway account in a throwaway directory
SELF_REVOKING = ("/api/me/sign-out-everywhere", "/api/me/password", "/api/admin/users/{user_id}")


def run(command: list[str], env: dict[str, str], cwd: Path) -> int:
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, env=env, cwd=cwd, check=False).returncode  # noqa: S603 - our own tools


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"flashsale serve ended with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("flashsale serve did not become healthy")


def schemathesis(base: str, examples: int, seed: int, extra: list[str], env: dict[str, str], cwd: Path) -> int:
    # One worker: with two threads, Hypothesis describing its strategies' lambdas (ast.parse, a shared
    # cache) raced on Python 3.11 ("AST constructor recursion depth mismatch", a KeyError) and failed
    # a CI run with no finding; CI runs this in the background, beside the test passes, anyway.
    return run([str(BIN / "schemathesis"), "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
                "--checks", "all",
                "--max-examples", str(examples), "--seed", str(seed), "--workers", "1",
                "--request-timeout", "20", "--no-color", "--suppress-health-check", "all",
                "--warnings", "off", *extra], env, cwd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=30, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=1, help="Hypothesis seed (reproducible runs)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flashsale-fuzz-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}
    env.update({"FLASHSALE_VAR_DIR": str(work / "var"), "FLASHSALE_LOG_LEVEL": "error",
                "FLASHSALE_PUBLIC_BASE_URL": base, "FLASHSALE_DEMO": "false"})
    flashsale = str(BIN / "flashsale")
    if run([flashsale, "migrate"], env, work) != 0:
        return 1
    if run([flashsale, "user", "create", "--email", "fuzz-operator@example.com", "--password", PASSWORD,
            "--role", "operator"], env, work) != 0:
        return 1
    server = subprocess.Popen([flashsale, "serve", "--port", str(port)], env=env, cwd=work,  # noqa: S603
                              stdout=subprocess.DEVNULL, stderr=(work / "serve.log").open("wb"))
    try:
        wait_healthy(base, server)
        token = httpx.post(f"{base}/api/auth/token", timeout=30,
                           data={"username": "fuzz-operator@example.com", "password": PASSWORD}).json()["access_token"]
        anonymous = schemathesis(base, args.max_examples, args.seed, [], env, work)
        excluded = [arg for path in SELF_REVOKING for arg in ("--exclude-path", path)]
        operator = schemathesis(base, args.max_examples, args.seed,
                                ["-H", f"Authorization: Bearer {token}", *excluded], env, work)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        errors = (work / "serve.log").read_text(errors="replace")
        if "Traceback" in errors:
            print(errors[-5000:])
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"schemathesis: anonymous run {'passed' if anonymous == 0 else 'FAILED'}, "
          f"operator run {'passed' if operator == 0 else 'FAILED'}")
    return 0 if anonymous == 0 and operator == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
