#!/usr/bin/env node
import { runBinary } from '../lib/binary.js';

runBinary('dokploy-auth-mock');
