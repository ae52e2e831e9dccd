// SPDX-License-Identifier: Apache-2.0
/** GET /v1/version: this controller's version and the one each enforcer last reported (`cordon version`). */
import { Controller, Get, Inject } from '@nestjs/common';
import { ControlService } from '../control/control.service';
import { EnforcerRepository } from '../store/enforcers.repository';
import { CORDON_VERSION } from './cordon-version';

@Controller('v1/version')
export class VersionController {
  constructor(
    @Inject(EnforcerRepository) private readonly enforcers: EnforcerRepository,
    @Inject(ControlService) private readonly control: ControlService,
  ) {}

  @Get()
  async get() {
    const connected = new Set(this.control.connectedEnforcers());
    const enrolled = await this.enforcers.list();
    const names = [...new Set([...enrolled.map((e) => e.name), ...connected])].sort();
    return {
      controller: { version: CORDON_VERSION, node: process.version },
      enforcers: names.map((name) => {
        const live = this.control.liveStatus(name);
        // A version only from a status this controller received: the store does not keep it.
        return { name, version: live?.status.version || null, generation: live?.status.generation ?? null, connected: connected.has(name) };
      }),
    };
  }
}
