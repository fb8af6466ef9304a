#!/bin/sh
# cmdline hook of the nativeinit dracut module: reads rd.nativeinit= and rd.nativeinit.bundle= (and .disk, .done,
# .onfail) and exports them for the pre-mount hook (dracut carries exported variables between hooks in
# /dracut-state.sh). POSIX sh only: hooks are sourced by dracut's shell.
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh

NATIVEINIT_MODE=$(getarg rd.nativeinit=)
NATIVEINIT_BUNDLE=$(getarg rd.nativeinit.bundle=)
NATIVEINIT_DISK=$(getarg rd.nativeinit.disk=)
NATIVEINIT_DONE=$(getarg rd.nativeinit.done=)
NATIVEINIT_ONFAIL=$(getarg rd.nativeinit.onfail=)
export NATIVEINIT_MODE NATIVEINIT_BUNDLE NATIVEINIT_DISK NATIVEINIT_DONE NATIVEINIT_ONFAIL

if [ -n "$NATIVEINIT_MODE" ]; then
    case "$NATIVEINIT_MODE" in
        convert|resume|shell|selftest) info "nativeinit: rd.nativeinit=$NATIVEINIT_MODE${NATIVEINIT_BUNDLE:+ bundle=$NATIVEINIT_BUNDLE}" ;;
        *) warn "nativeinit: rd.nativeinit=$NATIVEINIT_MODE is not one of convert, resume, shell, selftest" ;;
    esac
    # A conversion boot has no root= of its own: do not let dracut stop at "No or empty root= argument".
    if [ -z "$root" ]; then
        root=nativeinit
        rootok=1
    fi
fi
