// SPDX-License-Identifier: Apache-2.0
/** The shell side of completion: each asks `cordon __complete` (complete.ts) for the candidates. */
import { FILES } from './complete';

export function bashScript(bin: string): string {
  return `# cordon completion for bash: source <(cordon completion bash)
_cordon_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local IFS=$'\\n'
  local out
  out=$(${bin} __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  if [[ "$out" == "${FILES}" ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
  fi
  COMPREPLY=($(compgen -W "$out" -- "$cur"))
}
complete -F _cordon_complete cordon
`;
}

export function zshScript(bin: string): string {
  return `#compdef cordon
# cordon completion for zsh: source <(cordon completion zsh), after compinit
_cordon() {
  local -a out
  out=("\${(@f)$(${bin} __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ "\${out[1]}" == "${FILES}" ]]; then
    _files
    return
  fi
  compadd -- "\${out[@]}"
}
if (( $+functions[compdef] )); then compdef _cordon cordon; fi
`;
}

export function fishScript(bin: string): string {
  return `# cordon completion for fish: cordon completion fish | source
function __cordon_complete
    set -l tokens (commandline -opc) (commandline -ct)
    set -l out (${bin} __complete $tokens[2..-1] 2>/dev/null)
    if test "$out" = "${FILES}"
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\\n' $out
end
complete -c cordon -f -a '(__cordon_complete)'
`;
}
