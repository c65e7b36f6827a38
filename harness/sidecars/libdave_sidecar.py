"""libdave as it ships (PyPI's dave.py), driven by the e2ee harness over stdio.

One JSON object per line in, one per line out, in order: {"id": N, "op": ..., ...} answered by
{"id": N, "ok": {...}} or {"id": N, "error": "..."}. Bytes travel as lowercase hex. The sidecar
holds any number of DAVE sessions, each named by the handle `new` returns; it never decides
anything about the protocol: every answer is what libdave returned, and libdave's own failure
reports (its MLS failure callback) ride along in "failures" as evidence.

The protocol (shared with the davey sidecar, harness/sidecars/davey): ops hello, new, start,
restart, proposals, commit, welcome, prepare, execute, shown, encrypt, decrypt, fingerprint,
media_key, free; see harness/src/dave/participant.rs for each one's fields.

Run it in the project's venv (`scripts/setup.sh` makes .venv-dave): .venv-dave/bin/python
harness/sidecars/libdave_sidecar.py
"""

import asyncio
import json
import sys

import dave

MEDIA = {"audio": dave.MediaType.audio, "video": dave.MediaType.video}
CODECS = {c.name: c for c in dave.Codec}


class Participant:
    """One libdave Session with its Encryptor, one Decryptor per sender, and the roster libdave
    reported (process_commit answers changes: a user with an empty key list left)."""

    def __init__(self, user_id, channel_id):
        self.user_id = user_id
        self.channel_id = channel_id
        self.failures = []
        self.session = dave.Session(
            lambda source, reason: self.failures.append(f"{source}: {reason}")
        )
        self.external_sender = None
        self.encryptor = dave.Encryptor()
        self.decryptors = {}
        self.roster = set()

    def init(self):
        self.session.init(dave.get_max_supported_protocol_version(), self.channel_id, self.user_id)
        self.session.set_external_sender(self.external_sender)
        self.roster = set()
        kp = self.session.get_marshalled_key_package()
        if kp is None:
            raise RuntimeError("libdave made no key package")
        return {"key_package": kp.hex()}

    def apply(self, changes):
        for uid, key in changes.items():
            if len(key) == 0:
                self.roster.discard(str(uid))
            else:
                self.roster.add(str(uid))

    def take_failures(self):
        out, self.failures = self.failures, []
        return out


def unhex(request, field):
    value = request.get(field)
    if not isinstance(value, str):
        raise ValueError(f"`{field}`: expected a hex string")
    return bytes.fromhex(value)


class Sidecar:
    def __init__(self):
        self.sessions = {}
        self.next = 0
        self.loop = asyncio.new_event_loop()

    def participant(self, request):
        handle = request.get("session")
        if handle not in self.sessions:
            raise ValueError(f"no session {handle!r}")
        return self.sessions[handle]

    def handle(self, request):
        op = request.get("op")
        if op == "hello":
            return {
                "name": "libdave (dave.py)",
                "version": getattr(dave, "__version__", "unknown"),
                "max_protocol_version": dave.get_max_supported_protocol_version(),
            }
        if op == "new":
            self.next += 1
            self.sessions[self.next] = Participant(
                str(int(request["user_id"])), int(request["channel_id"])
            )
            return {"session": self.next}
        p = self.participant(request)
        s = p.session
        if op == "start":
            # op 4 (protocol 1) then op 25: a pending group and the key package for op 26.
            p.external_sender = unhex(request, "external_sender")
            return p.init()
        if op == "restart":
            # op 24 (epoch 1), or recovery after op 31: reset, a new pending group, a new package.
            return p.init()
        if op == "proposals":
            out = s.process_proposals(unhex(request, "payload"), set(request["recognized"]))
            if out is None and p.failures:
                # libdave refused the message (its callback says why) rather than had nothing to do.
                raise RuntimeError("process_proposals: refused")
            return {"commit_welcome": out.hex() if out is not None else None}
        if op == "commit":
            out = s.process_commit(unhex(request, "commit"))
            if isinstance(out, dave.RejectType):
                if out == dave.RejectType.ignored:
                    return {"accepted": False}
                raise RuntimeError("process_commit: failed")
            p.apply(out)
            return {"accepted": True}
        if op == "welcome":
            out = s.process_welcome(unhex(request, "welcome"), set(request["recognized"]))
            if out is None:
                raise RuntimeError("process_welcome: refused")
            p.roster = set()
            p.apply(out)
            return {}
        if op == "prepare":
            # Receivers move to the new epoch's ratchets as soon as the commit is processed.
            for sender in p.roster:
                if sender != p.user_id:
                    d = p.decryptors.setdefault(sender, dave.Decryptor())
                    d.transition_to_key_ratchet(s.get_key_ratchet(sender))
            return {}
        if op == "execute":
            # op 22: the sender switches to its ratchet of the new epoch.
            p.encryptor.set_key_ratchet(s.get_key_ratchet(p.user_id))
            return {"executed": True}
        if op == "shown":
            ea = s.get_last_epoch_authenticator()
            established = s.has_established_group()
            return {
                "epoch": None,
                "epoch_authenticator": ea.hex() if ea is not None else None,
                "code": dave.generate_displayable_code(ea, 30, 5) if ea is not None else None,
                "roster": sorted(p.roster | {p.user_id}) if established else None,
            }
        if op == "encrypt":
            ssrc = int(request.get("ssrc", 1))
            p.encryptor.assign_ssrc_to_codec(ssrc, CODECS[request.get("codec", "opus")])
            out = p.encryptor.encrypt(MEDIA[request["media"]], ssrc, unhex(request, "frame"))
            return {"frame": out.hex() if out is not None else None}
        if op == "decrypt":
            d = p.decryptors.get(str(int(request["sender"])))
            if d is None:
                return {"frame": None, "why": "no decryptor for this sender"}
            out = d.decrypt(MEDIA[request["media"]], unhex(request, "frame"))
            return {"frame": out.hex() if out is not None else None}
        if op == "fingerprint":
            other = str(int(request["other"]))

            async def fingerprint():
                # dave.py resolves the future from a C++ thread through the running loop, so
                # it must be asked for inside one.
                return await s.get_pairwise_fingerprint(0, other)

            out = self.loop.run_until_complete(asyncio.wait_for(fingerprint(), 30))
            return {"fingerprint": out.hex() if out is not None else None}
        if op == "media_key":
            raise NotImplementedError("dave.py exposes no key ratchet bytes")
        if op == "free":
            del self.sessions[request["session"]]
            return {}
        raise ValueError(f"unknown op {op!r}")

    def serve(self, lines, out):
        for line in lines:
            request_id = None
            p = None
            try:
                request = json.loads(line)
                request_id = request.get("id")
                p = self.sessions.get(request.get("session"))
                answer = {"id": request_id, "ok": self.handle(request)}
            except Exception as e:  # every failure is an answer, never a dead sidecar
                answer = {"id": request_id, "error": f"{type(e).__name__}: {e}"}
            if p is not None:
                # libdave's own reasons (its MLS failure callback), the evidence of a refusal.
                answer["failures"] = p.take_failures()
            out.write(json.dumps(answer) + "\n")
            out.flush()


if __name__ == "__main__":
    Sidecar().serve(sys.stdin, sys.stdout)
