import { Module } from '@nestjs/common';

/**
 * The control channel: enforcer CA, gRPC server (enroll, bundles, flows, status)
 * and the enforcer REST endpoints. Filled in as the pieces land.
 */
@Module({})
export class ControlModule {}
