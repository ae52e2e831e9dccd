// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { CredentialsController } from './credentials.controller';
import { CredentialsService } from './credentials.service';

/**
 * Device credentials: the device CA (key in a PKCS#11 token or a KEK-sealed file),
 * certificates and PSKs, the CRL, EST. Exports CredentialsService, whose
 * credentialStatus(device) answers PostureRule `credential: valid`.
 */
@Module({
  controllers: [CredentialsController],
  providers: [CredentialsService],
  exports: [CredentialsService],
})
export class CredentialsModule {}
